// What a sweep's rows say: per-engine curves (recall vs facts stored, state
// and cost vs context length), the 90% recall capacity, growth exponents of
// state and compute, the corners each engine measurably keeps, and which
// engines form a family trajectory. Pure functions of a SweepReport, shared
// by the charts, the HTML report, the CSV and the summary table.
//
// Example:
//   std::vector<v1::SweepEngineSummary> summaries = SummarizeSweep(report);
//   *report.mutable_summaries() = {summaries.begin(), summaries.end()};
//   std::cout << FormatSweepSummaryTable(report);
//
// Rows with an error are ignored by every curve and summary (they stay in
// the CSV and JSON with their error).
#ifndef TRILEMMA_CLIENT_REPORT_SWEEP_ANALYSIS_H_
#define TRILEMMA_CLIENT_REPORT_SWEEP_ANALYSIS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

using Curve = std::vector<std::pair<double, double>>;

// Mean recall over repeats at each N (ascending), at filler `filler`.
Curve RecallByPairs(const v1::SweepReport& report, const std::string& engine,
                    int64_t filler);

// What SweepRow field a context curve plots.
enum class SweepMetric { kStateBytes, kFlopsPerToken, kMsPerStep };

// The metric against context tokens (mean over rows with the same context),
// ascending in context. kStateBytes counts both tiers.
Curve MetricByContext(const v1::SweepReport& report, const std::string& engine,
                      SweepMetric metric);

// How fast `curve` grows at its longest contexts: the log-log slope of its
// growth over the first point, y(x) - y(x_min), for x >= x_max / 4 (at
// least the last two points). ~0 for a bounded quantity, ~1 for one growing
// linearly (full attention's KV and its 4nd FLOPs, even while a constant
// readout still dominates the total). 0 when the curve grows by less than
// 5% of its last value, or has fewer than two positive points.
double GrowthExponent(const Curve& curve);

// The largest N up to which (from the smallest N on) recall stays >= 0.9;
// 0 when the smallest N already misses it. REQUIRES: ascending x.
int32_t Capacity90(const Curve& recall_by_pairs);

// One summary per engine of report.engines() (fields as documented on
// SweepEngineSummary).
std::vector<v1::SweepEngineSummary> SummarizeSweep(
    const v1::SweepReport& report);

// Engines of one family hosted with different knobs, ordered by the first
// knob whose value differs (numerically when every value is a number): the
// trajectory a hybrid (or any family) follows as that knob moves.
struct Trajectory {
  std::string family;
  // The knob that orders the members ("" when only the names differ).
  std::string knob;
  // Indices into the engine list, in knob order.
  std::vector<int> members;
};
std::vector<Trajectory> FamilyTrajectories(
    const std::vector<v1::EngineInfo>& engines);

// sweep.csv: a header (SweepCsvColumns) and one line per row.
std::vector<std::string> SweepCsvColumns();
std::string FormatSweepCsv(const v1::SweepReport& report);

// One line per engine: family, claimed and measured corners, capacity,
// recall at the largest N, exponents, state and FLOPs at the longest
// context; then a line naming the seed. Uses report.summaries().
std::string FormatSweepSummaryTable(const v1::SweepReport& report);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_REPORT_SWEEP_ANALYSIS_H_
