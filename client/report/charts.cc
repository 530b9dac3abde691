#include "client/report/charts.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/common/table_printer.h"
#include "client/report/layers.h"
#include "client/report/svg.h"
#include "client/report/sweep_analysis.h"

namespace trilemma::client {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The range of the positive values of some curves, on each axis.
struct Extent {
  double x_lo = kInf, x_hi = 0, y_lo = kInf, y_hi = 0;

  void Add(const Curve& curve) {
    for (const auto& [x, y] : curve) {
      if (x > 0) {
        x_lo = std::min(x_lo, x);
        x_hi = std::max(x_hi, x);
      }
      if (y > 0) {
        y_lo = std::min(y_lo, y);
        y_hi = std::max(y_hi, y);
      }
    }
  }
  bool empty() const { return x_hi == 0 || y_hi == 0; }
};

// A log scale padded to whole powers of ten when the data are sparse, so a
// flat line still has ticks around it.
Scale PaddedLog(double lo, double hi, double from_px, double to_px) {
  if (!(lo > 0) || !std::isfinite(lo)) lo = 1;
  if (!(hi > 0) || !std::isfinite(hi)) hi = lo;
  if (hi / lo < 10) {
    lo = std::pow(10.0, std::floor(std::log10(lo)));
    hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (hi <= lo) hi = lo * 10;
  }
  return Scale::Log(lo / 1.15, hi * 1.15, from_px, to_px);
}

std::string BytesTick(double v) {
  return FormatBytes(static_cast<int64_t>(std::llround(v)));
}

// Powers of two (every 2^k with k a multiple of a stride keeping at most
// eight) inside a log scale's domain: round numbers of bytes.
std::vector<double> PowerOfTwoTicks(const Scale& scale) {
  const int lo = static_cast<int>(std::ceil(std::log2(scale.lo())));
  const int hi = static_cast<int>(std::floor(std::log2(scale.hi())));
  int stride = 1;
  while ((hi - lo) / stride >= 8) ++stride;
  std::vector<double> ticks;
  for (int k = lo; k <= hi; ++k) {
    if (k % stride == 0) ticks.push_back(std::ldexp(1.0, k));
  }
  return ticks;
}

std::string NoData(const PlotFrame& frame) {
  return SvgText(frame.left + frame.width / 2, frame.top + frame.height / 2,
                 "no measured rows", "middle", 14, "fill=\"#888888\"");
}

const v1::SweepEngineSummary* SummaryOf(const v1::SweepReport& report,
                                        const std::string& engine) {
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    if (s.engine() == engine) return &s;
  }
  return nullptr;
}

// The manifest model hosted as `engine` (a trained engine), or null.
const v1::ManifestModel* TrainedModelOf(const v1::SweepReport& report,
                                        const std::string& engine) {
  for (const v1::ManifestModel& m : report.trained()) {
    if (m.name() == engine) return &m;
  }
  return nullptr;
}

// Engine e's colour: its own, or its circuit's for a trained engine (drawn
// dashed), so each pair reads as one architecture.
std::string EngineColor(const v1::SweepReport& report, int e) {
  if (const v1::ManifestModel* m =
          TrainedModelOf(report, report.engines(e).name())) {
    for (int c = 0; c < report.engines_size(); ++c) {
      if (report.engines(c).name() == m->circuit()) return SeriesColor(c);
    }
  }
  return SeriesColor(e);
}

bool IsTrained(const v1::SweepReport& report, int e) {
  return TrainedModelOf(report, report.engines(e).name()) != nullptr;
}

int64_t MinFiller(const v1::SweepReport& report) {
  if (report.contexts().empty()) return 0;
  return *std::min_element(report.contexts().begin(), report.contexts().end());
}

// One context-metric panel (charts 2 and 3).
std::string ContextPanel(const v1::SweepReport& report, const PlotFrame& frame,
                         SweepMetric metric, const std::string& y_label,
                         const TickFormatter& y_format) {
  std::vector<Curve> curves;
  Extent extent;
  for (const v1::EngineInfo& e : report.engines()) {
    curves.push_back(MetricByContext(report, e.name(), metric));
    extent.Add(curves.back());
  }
  if (extent.empty()) return NoData(frame);
  const Scale x =
      PaddedLog(extent.x_lo, extent.x_hi, frame.left, frame.left + frame.width);
  const Scale y =
      PaddedLog(extent.y_lo, extent.y_hi, frame.top + frame.height, frame.top);
  AxesOptions axes;
  axes.x_label = "context tokens (log)";
  axes.y_label = y_label;
  axes.y_format = y_format;
  if (metric == SweepMetric::kStateBytes) axes.y_ticks = PowerOfTwoTicks(y);
  std::string out = SvgAxes(frame, x, y, axes);
  for (int e = 0; e < report.engines_size(); ++e) {
    absl::StrAppend(&out, SvgSeries(x, y,
                                    {.label = report.engines(e).name(),
                                     .color = EngineColor(report, e),
                                     .points = curves[e],
                                     .dashed = IsTrained(report, e)}));
  }
  return out;
}

std::vector<LegendEntry> EngineLegend(const v1::SweepReport& report) {
  std::vector<LegendEntry> entries;
  for (int e = 0; e < report.engines_size(); ++e) {
    entries.push_back({report.engines(e).name(), EngineColor(report, e),
                       IsTrained(report, e)});
  }
  return entries;
}

// The state chart's legend: each engine with the bytes one token of context
// adds to its state (EngineInfo.state_bytes_per_token: the KV format's real
// bytes, so kv_dtype presets show theirs) and its cap when it has one.
std::vector<LegendEntry> StateLegend(const v1::SweepReport& report) {
  std::vector<LegendEntry> entries = EngineLegend(report);
  for (int e = 0; e < report.engines_size(); ++e) {
    const v1::EngineInfo& info = report.engines(e);
    if (info.state_bytes_per_token() <= 0) continue;
    absl::StrAppend(
        &entries[e].label, " · ", FormatBytes(info.state_bytes_per_token()),
        "/tok",
        info.state_bytes_cap() > 0
            ? absl::StrCat(" ≤ ", FormatBytes(info.state_bytes_cap()))
            : "");
  }
  return entries;
}

// Under the triangle: every engine on one log axis of state bytes per token
// of context at the largest context it was measured at. Engines at the same
// triangle spot (attention and its kv_dtype presets all grow O(n)) separate
// here: compressed KV sits between full attention and the windows.
std::string StatePerTokenStrip(const v1::SweepReport& report, double left,
                               double top, double width) {
  struct Point {
    std::string label;
    double per_token;
  };
  std::vector<Point> points;
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    if (s.max_context_tokens() <= 0 || s.state_bytes_at_max_context() <= 0) {
      continue;
    }
    points.push_back(
        {s.engine(), static_cast<double>(s.state_bytes_at_max_context()) /
                         static_cast<double>(s.max_context_tokens())});
  }
  std::string out = SvgText(
      left, top, "state bytes per context token at the largest context (log)",
      "start", 12, "font-weight=\"bold\"");
  if (points.empty()) return out;
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.per_token > b.per_token;
  });
  const double lo = points.back().per_token, hi = points.front().per_token;
  const Scale x =
      Scale::Log(std::max(lo / 1.5, 1e-3), hi * 1.5, left, left + width);
  const double axis_y = top + 24;
  absl::StrAppend(&out,
                  SvgLine(left, axis_y, left + width, axis_y, "#555555", 1));
  for (size_t i = 0; i < points.size(); ++i) {
    const double px = x(points[i].per_token);
    // Labels hang below the axis in staggered rows, largest state first.
    const double ly = axis_y + 16 + 13.0 * static_cast<double>(i);
    absl::StrAppend(
        &out, SvgCircle(px, axis_y, 4, "#444444", "#ffffff"),
        SvgLine(px, axis_y + 4, px, ly - 10, "#bbbbbb", 0.6),
        SvgText(px, ly,
                absl::StrCat(points[i].label, " ",
                             FormatBytes(static_cast<int64_t>(
                                 std::llround(points[i].per_token)))),
                px > left + width / 2 ? "end" : "start", 10));
  }
  return out;
}

double StatePerTokenStripHeight(const v1::SweepReport& report) {
  return 50 + 13.0 * report.summaries_size();
}

// Places labels beside their points without overlapping each other or the
// points: a label that would collide moves up in 13 px steps (a cluster's
// labels form a column rising from it).
class LabelPlacer {
 public:
  // Keeps labels off a point drawn at (x, y) with radius r.
  void AddObstacle(double x, double y, double r) {
    boxes_.push_back({x - r, y - r, 2 * r, 2 * r});
  }

  // Returns the baseline y for a label of `chars` characters starting at x
  // (or, with `end_anchor`, ending at x) whose preferred baseline is y.
  double Place(double x, double y, size_t chars, bool end_anchor) {
    const double width = 6.2 * static_cast<double>(chars);
    const double left = end_anchor ? x - width : x;
    double top = y - 10;
    for (bool moved = true; moved;) {
      moved = false;
      for (const Box& b : boxes_) {
        if (left < b.x + b.width && b.x < left + width &&
            top < b.y + b.height && b.y < top + 13) {
          top = b.y - 13;
          moved = true;
        }
      }
    }
    boxes_.push_back({left, top, width, 13});
    return top + 10;
  }

 private:
  struct Box {
    double x, y, width, height;
  };
  std::vector<Box> boxes_;
};

// Where the k-th engine sharing one spot is drawn, relative to the spot:
// the first at the spot, then rings of 6 and 12 around it.
std::pair<double, double> ClusterOffset(int k) {
  if (k == 0) return {0, 0};
  const bool inner = k <= 6;
  const int slots = inner ? 6 : 12;
  const double radius = inner ? 11 : 22;
  const double angle = 2 * 3.14159265358979 * (inner ? k - 1 : k - 7) / slots;
  return {radius * std::cos(angle), radius * std::sin(angle)};
}

}  // namespace

std::string RecallVsFactsChart(const v1::SweepReport& report) {
  const PlotFrame frame{.left = 70, .top = 40, .width = 480, .height = 300};
  const int64_t filler = MinFiller(report);
  // The grid, plus any N measured beside it (trained models' train N).
  std::set<double> grid(report.pairs().begin(), report.pairs().end());
  for (const v1::SweepRow& row : report.rows()) {
    if (row.error().empty() && row.pairs() > 0) grid.insert(row.pairs());
  }
  const std::vector<double> pairs(grid.begin(), grid.end());
  const double lo = pairs.empty() ? 1 : pairs.front();
  const double hi = pairs.empty() ? 10 : pairs.back();
  const Scale x = Scale::Log(lo / 1.2, std::max(hi, lo * 1.5) * 1.2, frame.left,
                             frame.left + frame.width);
  const Scale y = Scale::Linear(0, 1.05, frame.top + frame.height, frame.top);
  std::string body = SvgText(
      frame.left, 22,
      absl::StrCat("Recall vs facts stored (filler ", filler, " tokens)"),
      "start", 15, "font-weight=\"bold\"");
  AxesOptions axes;
  axes.x_label = "facts stored N (key-value pairs, log scale)";
  axes.y_label = "recall (fraction of queries answered)";
  axes.x_ticks = pairs;
  axes.y_ticks = {0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0};
  absl::StrAppend(
      &body, SvgAxes(frame, x, y, axes),
      SvgLine(frame.left, y(0.9), frame.left + frame.width, y(0.9), "#444444",
              1.2, "4 3"),
      SvgText(frame.left + frame.width - 4, y(0.9) - 5, "90%", "end", 11));
  std::vector<LegendEntry> legend;
  std::string markers;
  for (int e = 0; e < report.engines_size(); ++e) {
    const std::string& name = report.engines(e).name();
    const Curve curve = RecallByPairs(report, name, filler);
    const std::string color = EngineColor(report, e);
    absl::StrAppend(&body, SvgSeries(x, y,
                                     {.label = name,
                                      .color = color,
                                      .points = curve,
                                      .dashed = IsTrained(report, e)}));
    const v1::SweepEngineSummary* s = SummaryOf(report, name);
    const int32_t capacity = s != nullptr ? s->capacity_90() : 0;
    for (const auto& [n, recall] : curve) {
      if (capacity > 0 && n == capacity) {
        absl::StrAppend(
            &markers, "<g class=\"capacity\">",
            SvgCircle(x(n), y(recall), 7, "none", color,
                      absl::StrCat(name, ": recall >= 0.9 up to N = ", n)),
            "</g>\n");
      }
    }
    legend.push_back(
        {absl::StrCat(name, IsTrained(report, e) ? " (trained)" : "",
                      capacity > 0 ? absl::StrCat("  N@90% ", capacity)
                                   : absl::StrCat("  N@90% < ", lo)),
         color, IsTrained(report, e)});
  }
  absl::StrAppend(
      &body, markers,
      SvgLegend(frame.left + frame.width + 20, frame.top + 8, legend, 1, 200),
      SvgText(frame.left + frame.width + 20,
              frame.top + 26 + 18.0 * legend.size(),
              "ring: capacity (last N with recall >= 0.9)", "start", 10,
              "fill=\"#555555\""));
  double height = std::max(frame.top + frame.height + 60,
                           frame.top + 40 + 18.0 * legend.size());
  // The three layers (trained / circuit / bound) on one axis of facts.
  if (const double strip = LayersCapacityStripHeight(report); strip > 0) {
    absl::StrAppend(&body, LayersCapacityStrip(report, frame.left, height + 10,
                                               frame.width + 200));
    height += strip + 10;
  }
  // Trained engines' legend labels are longer.
  const double legend_width = report.trained().empty() ? 240 : 300;
  return SvgDocument(frame.left + frame.width + legend_width, height,
                     "recall-vs-facts", "Recall vs facts stored", body);
}

std::string StateVsContextChart(const v1::SweepReport& report) {
  const PlotFrame frame{.left = 80, .top = 40, .width = 480, .height = 300};
  std::string body = SvgText(frame.left, 22, "State bytes vs context length",
                             "start", 15, "font-weight=\"bold\"");
  absl::StrAppend(
      &body,
      ContextPanel(report, frame, SweepMetric::kStateBytes,
                   "state bytes (model + external, log)", BytesTick),
      SvgLegend(frame.left + frame.width + 20, frame.top + 8,
                StateLegend(report), 1, 180));
  const double height = std::max(frame.top + frame.height + 60,
                                 frame.top + 40 + 18.0 * report.engines_size());
  return SvgDocument(frame.left + frame.width + 360, height, "state-vs-context",
                     "State bytes vs context length", body);
}

std::string CostVsContextChart(const v1::SweepReport& report) {
  const PlotFrame left{.left = 80, .top = 40, .width = 380, .height = 280};
  const PlotFrame right{.left = 580, .top = 40, .width = 380, .height = 280};
  std::string body = absl::StrCat(
      SvgText(left.left, 22, "FLOPs per token vs context length", "start", 15,
              "font-weight=\"bold\""),
      SvgText(right.left, 22, "Measured ms per step vs context length", "start",
              15, "font-weight=\"bold\""),
      ContextPanel(report, left, SweepMetric::kFlopsPerToken,
                   "FLOPs per generated token (log)", FormatTickValue),
      ContextPanel(report, right, SweepMetric::kMsPerStep,
                   "ms per engine step (log)",
                   [](double v) { return absl::StrFormat("%g", v); }));
  const std::vector<LegendEntry> legend = EngineLegend(report);
  constexpr int kColumns = 5;
  absl::StrAppend(&body, SvgLegend(left.left, left.top + left.height + 62,
                                   legend, kColumns, 180));
  const double rows = std::ceil(static_cast<double>(legend.size()) / kColumns);
  return SvgDocument(1000, left.top + left.height + 70 + 18 * rows,
                     "cost-vs-context", "FLOPs and ms per step vs context",
                     body);
}

std::string TriangleChart(const v1::SweepReport& report) {
  const PlotFrame frame{.left = 70, .top = 56, .width = 520, .height = 420};
  double x_hi = 1.1, y_hi = 1.1, x_lo = -0.1, y_lo = -0.1;
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    x_hi = std::max(x_hi, s.compute_exponent() + 0.1);
    y_hi = std::max(y_hi, s.state_exponent() + 0.1);
    x_lo = std::min(x_lo, s.compute_exponent() - 0.1);
    y_lo = std::min(y_lo, s.state_exponent() - 0.1);
  }
  const Scale x =
      Scale::Linear(x_lo, x_hi, frame.left, frame.left + frame.width);
  const Scale y =
      Scale::Linear(y_lo, y_hi, frame.top + frame.height, frame.top);
  std::string body =
      SvgText(frame.left, 22, "The triangle: which corners each engine keeps",
              "start", 15, "font-weight=\"bold\"");
  AxesOptions axes;
  axes.x_label = "compute growth: d log(FLOPs/token) / d log(context)";
  axes.y_label = "state growth: d log(state bytes) / d log(context)";
  axes.x_format = [](double v) { return absl::StrFormat("%g", v); };
  axes.y_format = axes.x_format;
  // Corner regions: efficient (compute flat), compact (state flat), both.
  const double ex = x(0.25), cy = y(0.25);
  const double bottom = frame.top + frame.height;
  absl::StrAppend(
      &body,
      SvgRect(frame.left, frame.top, ex - frame.left, frame.height, "#2ca02c",
              "none", 0.07),
      SvgRect(frame.left, cy, frame.width, bottom - cy, "#1f77b4", "none",
              0.07),
      SvgAxes(frame, x, y, axes),
      SvgText(frame.left + 6, bottom - 6, "E + C: capacity bounded", "start",
              10, "fill=\"#333333\""),
      SvgText(frame.left + 6, frame.top + 16, "efficient (O(1) compute)",
              "start", 11, "fill=\"#2c7a2c\""),
      SvgText(frame.left + frame.width - 6, bottom - 8, "compact (O(1) state)",
              "end", 11, "fill=\"#1f5f9f\""),
      // Above the frame: engines that pay sit in that corner.
      SvgText(frame.left + frame.width, frame.top - 6,
              "top right: pays O(n) state and compute to recall", "end", 11,
              "fill=\"#555555\""));

  int32_t max_pairs = 1, min_pairs = 1 << 30;
  for (int32_t p : report.pairs()) {
    max_pairs = std::max(max_pairs, p);
    min_pairs = std::min(min_pairs, p);
  }
  if (min_pairs > max_pairs) min_pairs = 1;
  auto capacity_t = [&](int32_t capacity) {
    if (capacity <= 0) return 0.0;
    if (max_pairs <= min_pairs) return 1.0;
    return 0.15 + 0.85 * std::log(static_cast<double>(capacity) / min_pairs) /
                      std::log(static_cast<double>(max_pairs) / min_pairs);
  };

  // Trajectories first, so points draw over them.
  std::vector<v1::EngineInfo> engines(report.engines().begin(),
                                      report.engines().end());
  for (const Trajectory& t : FamilyTrajectories(engines)) {
    Series series;
    series.label = absl::StrCat(t.family, t.knob.empty() ? "" : ": ", t.knob);
    series.color = "#888888";
    series.dashed = true;
    series.markers = false;
    for (int m : t.members) {
      const v1::SweepEngineSummary* s = SummaryOf(report, engines[m].name());
      if (s != nullptr) {
        series.points.push_back({s->compute_exponent(), s->state_exponent()});
      }
    }
    absl::StrAppend(&body, "<g class=\"trajectory\">", SvgSeries(x, y, series),
                    "</g>\n");
  }
  // Points first (engines at one spot fan out around it, so each stays
  // visible; the tooltip and the table keep the exact numbers), then labels
  // placed around them.
  struct Placed {
    const v1::SweepEngineSummary* summary;
    double x, y;
  };
  std::vector<Placed> placed;
  std::vector<std::pair<double, double>> spots;
  std::vector<int> per_spot;
  LabelPlacer labels;
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    const double sx = x(s.compute_exponent()), sy = y(s.state_exponent());
    size_t spot = 0;
    while (spot < spots.size() && (std::abs(spots[spot].first - sx) >= 6 ||
                                   std::abs(spots[spot].second - sy) >= 6)) {
      ++spot;
    }
    if (spot == spots.size()) {
      spots.push_back({sx, sy});
      per_spot.push_back(0);
    }
    const auto [dx, dy] = ClusterOffset(per_spot[spot]++);
    placed.push_back({&s, spots[spot].first + dx, spots[spot].second + dy});
    labels.AddObstacle(placed.back().x, placed.back().y, 8);
    const std::string tooltip = absl::StrFormat(
        "%s (%s): N@90%% %d, state exp %.2f, compute exp %.2f, claims %s, "
        "measured %s",
        s.engine(), s.family(), s.capacity_90(), s.state_exponent(),
        s.compute_exponent(), FormatCorners(s.claimed()),
        FormatCorners(s.measured()));
    absl::StrAppend(
        &body, "<g class=\"engine-point\">",
        SvgCircle(placed.back().x, placed.back().y, 8,
                  RampColor(capacity_t(s.capacity_90())),
                  s.measured().recall() ? "#000000" : "#ffffff", tooltip),
        "</g>\n");
  }
  // Each trained engine joined to its circuit (dotted): the gap training
  // leaves on the same architecture.
  auto where = [&placed](const std::string& engine) -> const Placed* {
    for (const Placed& p : placed) {
      if (p.summary->engine() == engine) return &p;
    }
    return nullptr;
  };
  for (const v1::SweepLayers& l : report.layers()) {
    const Placed* trained = where(l.trained_engine());
    const Placed* circuit = where(l.circuit_engine());
    if (trained == nullptr || circuit == nullptr) continue;
    absl::StrAppend(&body, "<g class=\"layer-link\">",
                    SvgLine(trained->x, trained->y, circuit->x, circuit->y,
                            "#d62728", 1.2, "2 3"),
                    "</g>\n");
  }
  for (const Placed& p : placed) {
    // Labels of points near the right edge end at the point.
    const bool end_anchor = p.x > frame.left + 0.75 * frame.width;
    const double lx = end_anchor ? p.x - 12 : p.x + 12;
    const double ly =
        labels.Place(lx, p.y + 4, p.summary->engine().size(), end_anchor);
    if (std::abs(ly - 4 - p.y) > 8) {
      absl::StrAppend(&body, SvgLine(p.x, p.y, lx + (end_anchor ? 2 : -2),
                                     ly - 4, "#999999", 0.8));
    }
    absl::StrAppend(&body, SvgText(lx, ly, p.summary->engine(),
                                   end_anchor ? "end" : "start", 11));
  }

  // Colour key for recall capacity.
  const double kx = frame.left + frame.width + 30, ky = frame.top + 20;
  absl::StrAppend(&body, "<g class=\"legend\">",
                  SvgText(kx, ky - 6, "recall capacity N@90%", "start", 12,
                          "font-weight=\"bold\""));
  constexpr int kSteps = 10;
  for (int i = 0; i < kSteps; ++i) {
    absl::StrAppend(&body, SvgRect(kx, ky + 20.0 * i, 18, 20,
                                   RampColor(1.0 - (i + 0.5) / kSteps)));
  }
  absl::StrAppend(
      &body,
      SvgText(kx + 24, ky + 12, absl::StrCat(">= ", max_pairs), "start", 11),
      SvgText(kx + 24, ky + 20.0 * kSteps - 4, absl::StrCat("< ", min_pairs),
              "start", 11),
      SvgCircle(kx + 9, ky + 20.0 * kSteps + 24, 7, "#cccccc", "#000000"),
      SvgText(kx + 24, ky + 20.0 * kSteps + 28, "black ring: recall >= 0.9",
              "start", 11),
      SvgText(kx + 24, ky + 20.0 * kSteps + 42, "at the largest N and filler",
              "start", 11),
      SvgLine(kx, ky + 20.0 * kSteps + 62, kx + 18, ky + 20.0 * kSteps + 62,
              "#888888", 2, "6 4"),
      SvgText(kx + 24, ky + 20.0 * kSteps + 66, "same family, knob moving",
              "start", 11),
      "</g>\n", LayersTriangleKey(report, kx, ky + 20.0 * kSteps + 96));
  absl::StrAppend(
      &body, "<g class=\"state-per-token\">",
      StatePerTokenStrip(report, frame.left, bottom + 70, frame.width),
      "</g>\n");
  return SvgDocument(frame.left + frame.width + 230,
                     bottom + 80 + StatePerTokenStripHeight(report), "triangle",
                     "The triangle: efficiency, compactness, recall", body);
}

std::vector<SweepChart> RenderSweepCharts(const v1::SweepReport& report) {
  return {
      {"recall_vs_facts.svg", "recall-vs-facts", "1. Recall vs facts stored",
       "Mean recall over repeats at the smallest filler; one line per engine. "
       "The dashed line is 90%; a ring marks the last N each engine still "
       "recalls at 90% (its capacity).",
       RecallVsFactsChart(report)},
      {"state_vs_context.svg", "state-vs-context",
       "2. State bytes vs context length",
       "State held after storing the facts and the filler (both tiers), "
       "log-log: slope 1 grows with n, slope 0 is compact.",
       StateVsContextChart(report)},
      {"cost_vs_context.svg", "cost-vs-context",
       "3. FLOPs per token and ms per step vs context length",
       "Analytic FLOPs of each answer token (server cost model) and the "
       "measured wall time of the engine steps that produced them.",
       CostVsContextChart(report)},
      {"triangle.svg", "triangle", "4. The triangle",
       "Each engine at its measured growth exponents of compute (x) and "
       "state (y) at the longest contexts, coloured by recall capacity. "
       "Engines of one family with different knobs are joined, in knob "
       "order: the trajectory of a hybrid as its knob moves. Engines at the "
       "same place are fanned out around it (hover for exact numbers).",
       TriangleChart(report)},
  };
}

}  // namespace trilemma::client
