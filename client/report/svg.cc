#include "client/report/svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trilemma::client {
namespace {

std::string Px(double v) { return absl::StrFormat("%.2f", v); }

std::string Attr(absl::string_view name, absl::string_view value) {
  return absl::StrCat(" ", name, "=\"", XmlEscape(value), "\"");
}

}  // namespace

Scale::Scale(double lo, double hi, double from_px, double to_px, bool log)
    : lo_(lo), hi_(hi), from_px_(from_px), to_px_(to_px), log_(log) {}

Scale Scale::Linear(double lo, double hi, double from_px, double to_px) {
  if (hi <= lo) hi = lo + 1;
  return Scale(lo, hi, from_px, to_px, false);
}

Scale Scale::Log(double lo, double hi, double from_px, double to_px) {
  if (!(lo > 0)) lo = 1;
  if (hi <= lo) hi = lo * 10;
  return Scale(lo, hi, from_px, to_px, true);
}

double Scale::operator()(double value) const {
  double t;
  if (log_) {
    if (!(value > 0)) return from_px_;
    t = std::log10(value / lo_) / std::log10(hi_ / lo_);
  } else {
    t = (value - lo_) / (hi_ - lo_);
  }
  return from_px_ + t * (to_px_ - from_px_);
}

std::vector<double> Scale::Ticks(int count) const {
  std::vector<double> ticks;
  count = std::max(count, 2);
  if (!log_) {
    const double raw = (hi_ - lo_) / count;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double normalized = raw / magnitude;
    const double step = (normalized < 1.5   ? 1
                         : normalized < 3.0 ? 2
                         : normalized < 7.0 ? 5
                                            : 10) *
                        magnitude;
    for (double v = std::ceil(lo_ / step) * step; v <= hi_ + step * 1e-9;
         v += step) {
      ticks.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
    }
    return ticks;
  }
  const double decades = std::log10(hi_ / lo_);
  const int stride = decades > 8 ? 2 : 1;
  const std::vector<double> multipliers =
      decades < 3 ? std::vector<double>{1, 2, 5} : std::vector<double>{1};
  for (int d = static_cast<int>(std::floor(std::log10(lo_)));
       d <= static_cast<int>(std::ceil(std::log10(hi_))); ++d) {
    if (d % stride != 0) continue;
    for (double m : multipliers) {
      const double v = m * std::pow(10.0, d);
      if (v >= lo_ * (1 - 1e-9) && v <= hi_ * (1 + 1e-9)) ticks.push_back(v);
    }
  }
  if (ticks.size() < 2) ticks = {lo_, hi_};
  return ticks;
}

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          break;
        }
        out += c;
    }
  }
  return out;
}

std::string FormatTickValue(double value) {
  const double a = std::abs(value);
  if (a == std::floor(a) && a < 10000) return absl::StrFormat("%.0f", value);
  if (a < 1000) return absl::StrFormat("%.3g", value);
  constexpr std::pair<double, const char*> kUnits[] = {
      {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (const auto& [unit, suffix] : kUnits) {
    if (a >= unit) return absl::StrFormat("%.3g%s", value / unit, suffix);
  }
  return absl::StrFormat("%.3g", value);
}

std::string SvgDocument(double width, double height, absl::string_view id,
                        absl::string_view title, absl::string_view body) {
  return absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\"", Attr("id", id),
      " class=\"chart\" width=\"", Px(width), "\" height=\"", Px(height),
      "\" viewBox=\"0 0 ", Px(width), " ", Px(height),
      "\" font-family=\"sans-serif\" font-size=\"12\">\n<title>",
      XmlEscape(title), "</title>\n", SvgRect(0, 0, width, height, "#ffffff"),
      body, "</svg>\n");
}

std::string SvgText(double x, double y, absl::string_view text,
                    absl::string_view anchor, double size,
                    absl::string_view attributes) {
  return absl::StrCat("<text x=\"", Px(x), "\" y=\"", Px(y),
                      "\" text-anchor=\"", anchor, "\" font-size=\"",
                      absl::StrFormat("%g", size), "\"",
                      attributes.empty() ? "" : " ", attributes, ">",
                      XmlEscape(text), "</text>\n");
}

std::string SvgLine(double x1, double y1, double x2, double y2,
                    absl::string_view color, double width,
                    absl::string_view dash) {
  return absl::StrCat("<line x1=\"", Px(x1), "\" y1=\"", Px(y1), "\" x2=\"",
                      Px(x2), "\" y2=\"", Px(y2), "\"", Attr("stroke", color),
                      " stroke-width=\"", absl::StrFormat("%g", width), "\"",
                      dash.empty() ? "" : Attr("stroke-dasharray", dash),
                      "/>\n");
}

std::string SvgRect(double x, double y, double width, double height,
                    absl::string_view fill, absl::string_view stroke,
                    double opacity) {
  return absl::StrCat(
      "<rect x=\"", Px(x), "\" y=\"", Px(y), "\" width=\"", Px(width),
      "\" height=\"", Px(height), "\"", Attr("fill", fill),
      Attr("stroke", stroke),
      opacity < 1 ? absl::StrFormat(" fill-opacity=\"%g\"", opacity) : "",
      "/>\n");
}

std::string SvgCircle(double x, double y, double radius, absl::string_view fill,
                      absl::string_view stroke, absl::string_view tooltip) {
  const std::string head = absl::StrCat(
      "<circle cx=\"", Px(x), "\" cy=\"", Px(y), "\" r=\"", Px(radius), "\"",
      Attr("fill", fill), Attr("stroke", stroke));
  if (tooltip.empty()) return absl::StrCat(head, "/>\n");
  return absl::StrCat(head, "><title>", XmlEscape(tooltip),
                      "</title></circle>\n");
}

std::string SvgAxes(const PlotFrame& frame, const Scale& x, const Scale& y,
                    const AxesOptions& options) {
  const TickFormatter fx =
      options.x_format ? options.x_format : TickFormatter(FormatTickValue);
  const TickFormatter fy =
      options.y_format ? options.y_format : TickFormatter(FormatTickValue);
  const std::vector<double> xt =
      options.x_ticks.empty() ? x.Ticks() : options.x_ticks;
  const std::vector<double> yt =
      options.y_ticks.empty() ? y.Ticks() : options.y_ticks;
  const double bottom = frame.top + frame.height;
  const double right = frame.left + frame.width;
  std::string out = "<g class=\"axes\">\n";
  for (double v : xt) {
    const double px = x(v);
    if (px < frame.left - 0.5 || px > right + 0.5) continue;
    absl::StrAppend(&out, SvgLine(px, frame.top, px, bottom, "#e3e3e3"),
                    SvgLine(px, bottom, px, bottom + 5, "#555555"),
                    SvgText(px, bottom + 18, fx(v), "middle", 11));
  }
  for (double v : yt) {
    const double py = y(v);
    if (py < frame.top - 0.5 || py > bottom + 0.5) continue;
    absl::StrAppend(&out, SvgLine(frame.left, py, right, py, "#e3e3e3"),
                    SvgLine(frame.left - 5, py, frame.left, py, "#555555"),
                    SvgText(frame.left - 8, py + 4, fy(v), "end", 11));
  }
  absl::StrAppend(&out,
                  SvgRect(frame.left, frame.top, frame.width, frame.height,
                          "none", "#555555"),
                  SvgText(frame.left + frame.width / 2, bottom + 38,
                          options.x_label, "middle", 12),
                  SvgText(0, 0, options.y_label, "middle", 12,
                          absl::StrFormat("transform=\"translate(%s,%s) "
                                          "rotate(-90)\"",
                                          Px(frame.left - 52),
                                          Px(frame.top + frame.height / 2))),
                  "</g>\n");
  return out;
}

std::string SvgSeries(const Scale& x, const Scale& y, const Series& series) {
  std::string points, markers;
  for (const auto& [vx, vy] : series.points) {
    if ((x.log() && !(vx > 0)) || (y.log() && !(vy > 0))) continue;
    if (!std::isfinite(vx) || !std::isfinite(vy)) continue;
    absl::StrAppend(&points, points.empty() ? "" : " ", Px(x(vx)), ",",
                    Px(y(vy)));
    if (series.markers) {
      absl::StrAppend(
          &markers,
          SvgCircle(x(vx), y(vy), 3, series.color, "#ffffff",
                    absl::StrCat(series.label, ": ", FormatTickValue(vx), ", ",
                                 FormatTickValue(vy))));
    }
  }
  return absl::StrCat(
      "<g class=\"series-group\"", Attr("data-label", series.label), ">\n",
      "<polyline class=\"series\" fill=\"none\"", Attr("stroke", series.color),
      " stroke-width=\"2\"", series.dashed ? " stroke-dasharray=\"6 4\"" : "",
      Attr("points", points), "/>\n", markers, "</g>\n");
}

std::string SvgLegend(double x, double y,
                      const std::vector<LegendEntry>& entries, int columns,
                      double column_width) {
  columns = std::max(columns, 1);
  std::string out = "<g class=\"legend\">\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t column = i % columns;
    const size_t row = i / columns;
    const double ex = x + static_cast<double>(column) * column_width;
    const double ey = y + static_cast<double>(row) * 18;
    absl::StrAppend(&out,
                    SvgLine(ex, ey - 4, ex + 22, ey - 4, entries[i].color, 3,
                            entries[i].dashed ? "6 4" : ""),
                    SvgText(ex + 28, ey, entries[i].label, "start", 11));
  }
  absl::StrAppend(&out, "</g>\n");
  return out;
}

std::string SeriesColor(size_t index) {
  static constexpr const char* kColors[] = {
      "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
      "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#000000", "#b8860b",
      "#4b0082", "#008080", "#800000", "#556b2f"};
  return kColors[index % (sizeof(kColors) / sizeof(kColors[0]))];
}

std::string RampColor(double t) {
  static constexpr int kStops[][3] = {{68, 1, 84},
                                      {59, 82, 139},
                                      {33, 145, 140},
                                      {94, 201, 98},
                                      {253, 231, 37}};
  constexpr int kLast = 4;
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * kLast;
  const int i = std::min(static_cast<int>(t), kLast - 1);
  const double f = t - i;
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    rgb[c] = static_cast<int>(
        std::lround(kStops[i][c] + f * (kStops[i + 1][c] - kStops[i][c])));
  }
  return absl::StrFormat("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

}  // namespace trilemma::client
