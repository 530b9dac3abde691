#include "client/report/sweep_analysis.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/common/table_printer.h"
#include "client/report/csv.h"

namespace trilemma::client {
namespace {

constexpr double kCornerExponent = 0.25;
constexpr double kRecallCorner = 0.9;
// Growth below this fraction of the final value counts as flat.
constexpr double kFlatFraction = 0.05;

// Mean of y per x, ascending in x.
Curve MeanByX(const std::vector<std::pair<double, double>>& samples) {
  std::map<double, std::pair<double, int>> sums;
  for (const auto& [x, y] : samples) {
    sums[x].first += y;
    ++sums[x].second;
  }
  Curve curve;
  for (const auto& [x, sum] : sums) {
    curve.push_back({x, sum.first / sum.second});
  }
  return curve;
}

double MetricOf(const v1::SweepRow& row, SweepMetric metric) {
  switch (metric) {
    case SweepMetric::kStateBytes:
      return static_cast<double>(row.state_bytes() +
                                 row.external_state_bytes());
    case SweepMetric::kFlopsPerToken:
      return row.flops_per_token();
    case SweepMetric::kMsPerStep:
      return row.ms_per_step();
  }
  return 0;
}

// The y at the largest x of a curve; 0 when empty.
double Last(const Curve& curve) {
  return curve.empty() ? 0 : curve.back().second;
}

}  // namespace

Curve RecallByPairs(const v1::SweepReport& report, const std::string& engine,
                    int64_t filler) {
  std::vector<std::pair<double, double>> samples;
  for (const v1::SweepRow& row : report.rows()) {
    if (row.engine() != engine || row.filler() != filler ||
        !row.error().empty() || row.queries() == 0) {
      continue;
    }
    samples.push_back({static_cast<double>(row.pairs()), row.recall()});
  }
  return MeanByX(samples);
}

Curve MetricByContext(const v1::SweepReport& report, const std::string& engine,
                      SweepMetric metric) {
  std::vector<std::pair<double, double>> samples;
  for (const v1::SweepRow& row : report.rows()) {
    if (row.engine() != engine || !row.error().empty() ||
        row.context_tokens() <= 0) {
      continue;
    }
    // Cost metrics come from the answer steps; a row without one has none.
    if (metric != SweepMetric::kStateBytes && row.queries() == 0) continue;
    samples.push_back(
        {static_cast<double>(row.context_tokens()), MetricOf(row, metric)});
  }
  return MeanByX(samples);
}

double GrowthExponent(const Curve& curve) {
  Curve positive;
  for (const auto& [x, y] : curve) {
    if (x > 0 && y > 0) positive.push_back({x, y});
  }
  if (positive.size() < 2) return 0;
  // The growth over the smallest context's value: a constant part (the
  // readout, projections, fixed state) would otherwise hide how the rest
  // grows at the contexts measured.
  const double base = positive.front().second;
  if (positive.back().second - base <= kFlatFraction * positive.back().second) {
    return 0;
  }
  const double x_max = positive.back().first;
  size_t first = positive.size() - 2;
  while (first > 0 && positive[first - 1].first >= x_max / 4) --first;
  Curve excess;
  for (size_t i = first; i < positive.size(); ++i) {
    const double growth = positive[i].second - base;
    if (growth > 0) excess.push_back({positive[i].first, growth});
  }
  if (excess.size() < 2) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(excess.size());
  for (const auto& [x, y] : excess) {
    const double lx = std::log(x), ly = std::log(y);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  const double denominator = n * sxx - sx * sx;
  if (std::abs(denominator) < 1e-12) return 0;
  return (n * sxy - sx * sy) / denominator;
}

int32_t Capacity90(const Curve& recall_by_pairs) {
  int32_t capacity = 0;
  for (const auto& [pairs, recall] : recall_by_pairs) {
    if (recall < kRecallCorner) break;
    capacity = static_cast<int32_t>(pairs);
  }
  return capacity;
}

std::vector<v1::SweepEngineSummary> SummarizeSweep(
    const v1::SweepReport& report) {
  int64_t min_filler = 0, max_filler = 0;
  if (!report.contexts().empty()) {
    min_filler =
        *std::min_element(report.contexts().begin(), report.contexts().end());
    max_filler =
        *std::max_element(report.contexts().begin(), report.contexts().end());
  }
  std::vector<v1::SweepEngineSummary> summaries;
  for (const v1::EngineInfo& engine : report.engines()) {
    v1::SweepEngineSummary s;
    s.set_engine(engine.name());
    s.set_family(engine.family());
    *s.mutable_claimed() = engine.corners();
    const Curve near = RecallByPairs(report, engine.name(), min_filler);
    const Curve far = RecallByPairs(report, engine.name(), max_filler);
    s.set_capacity_90(Capacity90(near));
    s.set_recall_at_max_pairs(Last(near));
    const Curve state =
        MetricByContext(report, engine.name(), SweepMetric::kStateBytes);
    const Curve flops =
        MetricByContext(report, engine.name(), SweepMetric::kFlopsPerToken);
    s.set_state_exponent(GrowthExponent(state));
    s.set_compute_exponent(GrowthExponent(flops));
    v1::Corners* measured = s.mutable_measured();
    measured->set_efficient(flops.size() >= 2 &&
                            s.compute_exponent() < kCornerExponent);
    measured->set_compact(state.size() >= 2 &&
                          s.state_exponent() < kCornerExponent);
    measured->set_recall(!near.empty() && !far.empty() &&
                         Last(near) >= kRecallCorner &&
                         Last(far) >= kRecallCorner);
    if (!state.empty()) {
      s.set_max_context_tokens(static_cast<int64_t>(state.back().first));
      s.set_state_bytes_at_max_context(
          static_cast<int64_t>(state.back().second));
    }
    s.set_flops_per_token_at_max_context(Last(flops));
    summaries.push_back(std::move(s));
  }
  return summaries;
}

std::vector<Trajectory> FamilyTrajectories(
    const std::vector<v1::EngineInfo>& engines) {
  std::map<std::string, std::vector<int>> by_family;
  std::vector<std::string> order;
  for (size_t i = 0; i < engines.size(); ++i) {
    auto& members = by_family[engines[i].family()];
    if (members.empty()) order.push_back(engines[i].family());
    members.push_back(static_cast<int>(i));
  }
  std::vector<Trajectory> trajectories;
  for (const std::string& family : order) {
    Trajectory t{.family = family, .knob = "", .members = by_family[family]};
    if (t.members.size() < 2) continue;
    std::set<std::string> keys;
    for (int m : t.members) {
      for (const auto& [key, value] : engines[m].knobs()) keys.insert(key);
    }
    for (const std::string& key : keys) {
      std::set<std::string> values;
      for (int m : t.members) {
        auto it = engines[m].knobs().find(key);
        values.insert(it == engines[m].knobs().end() ? "" : it->second);
      }
      if (values.size() > 1) {
        t.knob = key;
        break;
      }
    }
    if (!t.knob.empty()) {
      auto value = [&](int m) {
        auto it = engines[m].knobs().find(t.knob);
        return it == engines[m].knobs().end() ? std::string() : it->second;
      };
      bool numeric = true;
      for (int m : t.members) {
        double unused;
        numeric &= absl::SimpleAtod(value(m), &unused);
      }
      std::stable_sort(t.members.begin(), t.members.end(), [&](int a, int b) {
        if (numeric) {
          double va = 0, vb = 0;
          (void)absl::SimpleAtod(value(a), &va);
          (void)absl::SimpleAtod(value(b), &vb);
          return va < vb;
        }
        return value(a) < value(b);
      });
    }
    trajectories.push_back(std::move(t));
  }
  return trajectories;
}

std::vector<std::string> SweepCsvColumns() {
  return {"engine",          "family",      "pairs",
          "filler",          "repeat",      "seed",
          "queries",         "hits",        "recall",
          "context_tokens",  "state_bytes", "external_state_bytes",
          "flops_per_token", "ms_per_step", "error"};
}

std::string FormatSweepCsv(const v1::SweepReport& report) {
  std::string out = CsvRow(SweepCsvColumns());
  for (const v1::SweepRow& row : report.rows()) {
    out += CsvRow({row.engine(), row.family(), absl::StrCat(row.pairs()),
                   absl::StrCat(row.filler()), absl::StrCat(row.repeat()),
                   absl::StrCat(row.seed()), absl::StrCat(row.queries()),
                   absl::StrCat(row.hits()), CsvNumber(row.recall()),
                   absl::StrCat(row.context_tokens()),
                   absl::StrCat(row.state_bytes()),
                   absl::StrCat(row.external_state_bytes()),
                   CsvNumber(row.flops_per_token()),
                   CsvNumber(row.ms_per_step()), row.error()});
  }
  return out;
}

std::string FormatSweepSummaryTable(const v1::SweepReport& report) {
  using C = TablePrinter;
  int32_t max_pairs = 0;
  for (int32_t p : report.pairs()) max_pairs = std::max(max_pairs, p);
  TablePrinter table({{"engine"},
                      {"family"},
                      {"claims"},
                      {"measured"},
                      {"N@90%", C::kRight},
                      {absl::StrCat("recall@", max_pairs), C::kRight},
                      {"state exp", C::kRight},
                      {"flops exp", C::kRight},
                      {"max context", C::kRight},
                      {"state", C::kRight},
                      {"flops/token", C::kRight}});
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    table.AddRow({s.engine(), s.family(), FormatCorners(s.claimed()),
                  FormatCorners(s.measured()),
                  s.capacity_90() > 0 ? absl::StrCat(s.capacity_90()) : "<min",
                  absl::StrFormat("%.3f", s.recall_at_max_pairs()),
                  absl::StrFormat("%.2f", s.state_exponent()),
                  absl::StrFormat("%.2f", s.compute_exponent()),
                  absl::StrCat(s.max_context_tokens()),
                  FormatBytes(s.state_bytes_at_max_context()),
                  FormatCount(s.flops_per_token_at_max_context())});
  }
  int failed = 0;
  for (const v1::SweepRow& row : report.rows()) failed += !row.error().empty();
  return absl::StrCat(
      table.ToString(),
      absl::StrFormat(
          "N@90%%: facts stored up to which recall stays >= 0.9 (smallest "
          "filler); exp: log-log slope vs context (0 = constant, 1 = "
          "linear); %d cells, %d failed%s; seed %u\n",
          report.rows_size(), failed,
          report.skipped_cells() > 0
              ? absl::StrFormat(", %d skipped (too many pairs for the vocab)",
                                report.skipped_cells())
              : "",
          report.seed()));
}

}  // namespace trilemma::client
