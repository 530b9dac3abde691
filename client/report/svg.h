// Small building blocks for SVG charts that need no script or font to
// render: scales (linear, log), axes with nice ticks, polylines with
// markers, legends and text. Each function returns an SVG fragment as a
// string; a chart concatenates fragments into SvgDocument.
//
// Example:
//   PlotFrame frame{.left = 70, .top = 30, .width = 520, .height = 300};
//   Scale x = Scale::Log(8, 1024, frame.left, frame.left + frame.width);
//   Scale y = Scale::Linear(0, 1, frame.top + frame.height, frame.top);
//   std::string body = SvgAxes(frame, x, y, {.x_label = "facts stored"}) +
//                      SvgSeries(x, y, {.label = "attention",
//                                       .color = "#1f77b4",
//                                       .points = {{8, 1}, {1024, 0.98}}});
//   std::string svg = SvgDocument(640, 380, "recall", body);
//
// Output is well-formed XML: every text passes through XmlEscape. Numbers
// are printed with two decimals so files stay small and diff-friendly.
#ifndef TRILEMMA_CLIENT_REPORT_SVG_H_
#define TRILEMMA_CLIENT_REPORT_SVG_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace trilemma::client {

// Maps data values to pixels. Log scales map log10(value); values <= 0 on
// a log scale map to the low end.
class Scale {
 public:
  static Scale Linear(double lo, double hi, double from_px, double to_px);
  // REQUIRES: 0 < lo.
  static Scale Log(double lo, double hi, double from_px, double to_px);

  double operator()(double value) const;
  bool log() const { return log_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }

  // About `count` round ticks inside [lo, hi]: steps of 1, 2 or 5 times a
  // power of ten on a linear scale; powers of ten on a log scale (with 2
  // and 5 in between when the range spans fewer than three decades).
  std::vector<double> Ticks(int count = 6) const;

 private:
  Scale(double lo, double hi, double from_px, double to_px, bool log);
  double lo_, hi_, from_px_, to_px_;
  bool log_;
};

// The plot area inside a chart, in pixels.
struct PlotFrame {
  double left = 0;
  double top = 0;
  double width = 0;
  double height = 0;
};

using TickFormatter = std::function<std::string(double)>;

struct AxesOptions {
  std::string x_label;
  std::string y_label;
  // Ticks to draw; empty = the scale's Ticks().
  std::vector<double> x_ticks;
  std::vector<double> y_ticks;
  // Tick labels; default FormatTickValue.
  TickFormatter x_format;
  TickFormatter y_format;
};

struct Series {
  std::string label;
  std::string color;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
  bool markers = true;
};

struct LegendEntry {
  std::string label;
  std::string color;
  bool dashed = false;
};

// &, <, >, " and ' escaped; control characters other than tab and newline
// dropped (they are not allowed in XML 1.0).
std::string XmlEscape(absl::string_view text);

// "0.5", "8", "1k", "16k", "1M", "2.5G": compact tick labels.
std::string FormatTickValue(double value);

// A standalone <svg> element with a white background, a <title> and the
// default font; `id` is the element id (used when inlined in HTML).
std::string SvgDocument(double width, double height, absl::string_view id,
                        absl::string_view title, absl::string_view body);

// <text>; `anchor` is start, middle or end; `attributes` is appended raw
// (e.g. "font-weight=\"bold\"").
std::string SvgText(double x, double y, absl::string_view text,
                    absl::string_view anchor = "start", double size = 12,
                    absl::string_view attributes = "");

std::string SvgLine(double x1, double y1, double x2, double y2,
                    absl::string_view color, double width = 1,
                    absl::string_view dash = "");

std::string SvgRect(double x, double y, double width, double height,
                    absl::string_view fill, absl::string_view stroke = "none",
                    double opacity = 1);

std::string SvgCircle(double x, double y, double radius, absl::string_view fill,
                      absl::string_view stroke, absl::string_view tooltip = "");

// Frame, grid lines, ticks with labels and axis titles, in <g class="axes">.
std::string SvgAxes(const PlotFrame& frame, const Scale& x, const Scale& y,
                    const AxesOptions& options);

// A <polyline class="series"> through the points (in the given order),
// plus circle markers each with a <title> tooltip, in
// <g class="series-group" data-label="...">. Points outside a log scale's
// domain (<= 0) are skipped.
std::string SvgSeries(const Scale& x, const Scale& y, const Series& series);

// Entries in `columns` columns from (x, y), each a short line sample and
// its label, in <g class="legend">.
std::string SvgLegend(double x, double y,
                      const std::vector<LegendEntry>& entries, int columns = 1,
                      double column_width = 170);

// A categorical colour for series `index` (sixteen well-separated hues,
// then repeating).
std::string SeriesColor(size_t index);

// A colour on a sequential ramp for t in [0, 1] (dark purple -> teal ->
// yellow), as "#rrggbb".
std::string RampColor(double t);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_SVG_H_
