// The chart fragments of client/report/layers.h.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/common/table_printer.h"
#include "client/report/layers.h"
#include "client/report/svg.h"

namespace trilemma::client {
namespace {

constexpr double kRowHeight = 22;
constexpr char kTrainedColor[] = "#d62728";
constexpr char kCircuitColor[] = "#1f77b4";
constexpr char kBoundColor[] = "#333333";

// A diamond (the circuit's marker) centred at (x, y).
std::string Diamond(double x, double y, double r, absl::string_view color,
                    absl::string_view tooltip) {
  return absl::StrFormat(
      "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f\" "
      "fill=\"%s\"><title>%s</title></polygon>\n",
      x, y - r, x + r, y, x, y + r, x - r, y, color, XmlEscape(tooltip));
}

}  // namespace

double LayersCapacityStripHeight(const v1::SweepReport& report) {
  if (report.layers().empty()) return 0;
  return 70 + kRowHeight * report.layers_size();
}

std::string LayersCapacityStrip(const v1::SweepReport& report, double left,
                                double top, double width) {
  if (report.layers().empty()) return "";
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  auto add = [&](double v) {
    if (v > 0) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  };
  for (const v1::SweepLayers& l : report.layers()) {
    add(l.trained_capacity_90());
    add(l.circuit_capacity_90());
    add(l.trained_bound().facts());
    add(l.circuit_bound().facts());
    add(l.train_pairs());
  }
  if (!(hi > 0)) return "";
  constexpr double kLabelWidth = 110;
  const Scale x = Scale::Log(std::max(lo / 2, 0.5), hi * 2, left + kLabelWidth,
                             left + width);
  std::string out = absl::StrCat(
      "<g class=\"layers\">\n",
      SvgText(left, top,
              "capacity@90%: ● trained  ◆ circuit  | bound (trained state)  "
              "¦ bound (circuit state)",
              "start", 12, "font-weight=\"bold\""));
  const double first = top + 22;
  for (int i = 0; i < report.layers_size(); ++i) {
    const v1::SweepLayers& l = report.layers(i);
    const double y = first + kRowHeight * i;
    absl::StrAppend(
        &out, "<g class=\"layer-row\" data-family=\"", XmlEscape(l.family()),
        "\">", SvgText(left, y + 4, l.family(), "start", 11),
        SvgLine(left + kLabelWidth, y, left + width, y, "#dddddd", 1),
        SvgLine(x(l.trained_bound().facts()), y - 8,
                x(l.trained_bound().facts()), y + 8, kBoundColor, 2),
        SvgLine(x(l.circuit_bound().facts()), y - 8,
                x(l.circuit_bound().facts()), y + 8, kBoundColor, 1.2, "2 2"));
    if (l.circuit_capacity_90() > 0) {
      absl::StrAppend(
          &out, Diamond(x(l.circuit_capacity_90()), y, 6, kCircuitColor,
                        absl::StrCat(l.circuit_engine(), " (circuit): N@90% ",
                                     l.circuit_capacity_90())));
    }
    if (l.trained_capacity_90() > 0) {
      absl::StrAppend(
          &out,
          SvgCircle(x(l.trained_capacity_90()), y, 5, kTrainedColor, "#ffffff",
                    absl::StrCat(l.trained_engine(), " (trained): N@90% ",
                                 l.trained_capacity_90())));
    }
    absl::StrAppend(&out, "</g>\n");
  }
  const double axis_y = first + kRowHeight * (report.layers_size() - 0.5);
  absl::StrAppend(&out, SvgLine(left + kLabelWidth, axis_y, left + width,
                                axis_y, "#555555", 1));
  for (double tick : x.Ticks()) {
    absl::StrAppend(
        &out, SvgLine(x(tick), axis_y, x(tick), axis_y + 4, "#555555"),
        SvgText(x(tick), axis_y + 16, FormatTickValue(tick), "middle", 10));
  }
  absl::StrAppend(
      &out,
      SvgText(left + kLabelWidth, axis_y + 32,
              "facts (log): a marker missing = recall < 90% already at the "
              "smallest N measured",
              "start", 10, "fill=\"#555555\""),
      "</g>\n");
  return out;
}

std::string LayersTriangleKey(const v1::SweepReport& report, double x,
                              double y) {
  if (report.layers().empty()) return "";
  std::string out = absl::StrCat(
      "<g class=\"layers-key\">",
      SvgText(x, y, "capacity@90%:", "start", 12, "font-weight=\"bold\""),
      SvgText(x, y + 15, "trained / circuit / bound", "start", 11));
  for (int i = 0; i < report.layers_size(); ++i) {
    const v1::SweepLayers& l = report.layers(i);
    absl::StrAppend(
        &out,
        SvgText(x, y + 32 + 14.0 * i,
                absl::StrCat(l.family(), ": ",
                             FormatCapacity(report, l.trained_engine(),
                                            l.trained_capacity_90()),
                             " / ",
                             FormatCapacity(report, l.circuit_engine(),
                                            l.circuit_capacity_90()),
                             " / ", FormatCount(l.trained_bound().facts()),
                             l.trained_bound().grows() ? "+" : ""),
                "start", 10));
  }
  return absl::StrCat(out, "</g>\n");
}

}  // namespace trilemma::client
