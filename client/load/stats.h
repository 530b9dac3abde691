// What one load-test request measured, and how `trilemma load` turns those
// records into a LoadReport: percentiles, throughput, goodput against an
// SLO, recall by context length, state and FLOPs.
//
// Example:
//   std::vector<RequestRecord> records = ...;  // one per request sent
//   absl::StatusOr<v1::LoadReport> report = BuildLoadReport(
//       {.engines = engines, .records = records, .sent = sent,
//        .duration_seconds = 10, .slo = slo});
//
// Accounting invariant: every request sent has exactly one record, and
// sent == succeeded + failed with failed == the sum of failed_by_status, per
// engine and in total. BuildLoadReport checks it and returns INTERNAL when
// it does not hold, so a report never silently drops a request.
#ifndef TRILEMMA_CLIENT_LOAD_STATS_H_
#define TRILEMMA_CLIENT_LOAD_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/load/workload.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/report.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

struct RequestRecord {
  // Index into the run's engine list.
  int32_t engine = 0;
  WorkloadKind workload = WorkloadKind::kRandom;
  // The RPC's final status.
  absl::StatusCode status = absl::StatusCode::kOk;
  // Seconds from the request's send to each generated token's arrival, in
  // order, and to the end of the RPC.
  std::vector<double> token_seconds;
  double e2e_seconds = 0;
  int64_t prompt_tokens = 0;
  // Finish reasons of the generate turns (one for Generate).
  std::vector<v1::FinishReason> finish_reasons;
  struct Probe {
    int64_t context_tokens = 0;
    bool hit = false;
  };
  std::vector<Probe> probes;
  // Largest state either tier held (summaries' peak_state_bytes).
  int64_t peak_state_bytes = 0;
  // Summaries' preemptions and recomputed_tokens, summed over turns.
  int64_t preemptions = 0;
  int64_t recomputed_tokens = 0;
  // Sums over generated tokens' step stats.
  double state_bytes_sum = 0;
  double flops_sum = 0;
};

// The p-th percentile (p in [0, 100]) of ascending `sorted`, interpolating
// linearly between closest ranks (numpy's default). 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

// count, mean, p50/p90/p99 and max of `samples` (any order).
v1::LatencySummary SummarizeLatency(std::vector<double> samples);

// Parses "ttft:200ms,itl:50ms" (keys ttft, itl, tpot, e2e; values absl
// durations such as 200ms, 1.5s). "" or "none" = no objective.
absl::StatusOr<v1::LoadSlo> ParseSlo(absl::string_view flag,
                                     absl::string_view text);

// "ttft<=200ms itl<=50ms", or "none".
std::string FormatSlo(const v1::LoadSlo& slo);

// True when the request succeeded and met every set part of `slo`. A
// request without a token never meets a TTFT objective; ITL and TPOT
// objectives hold trivially for fewer than two tokens.
bool MeetsSlo(const RequestRecord& record, const v1::LoadSlo& slo);

// The power-of-two bucket [2^k, 2^(k+1) - 1] holding `context_tokens`
// (0 is its own bucket [0, 0]).
void RecallBucketBounds(int64_t context_tokens, int64_t* min, int64_t* max);

struct LoadAggregation {
  // The engines of the run; records name them by index.
  std::vector<v1::EngineInfo> engines{};
  std::vector<RequestRecord> records{};
  // Requests the dispatcher started, per engine (same indexing).
  std::vector<int64_t> sent{};
  double duration_seconds = 0;
  v1::LoadSlo slo{};
};

// One LoadEngineResult per engine plus the total, in a LoadReport whose
// target, seed and settings the caller fills. INTERNAL when the accounting
// invariant fails (a request without a record, or a record without one).
absl::StatusOr<v1::LoadReport> BuildLoadReport(const LoadAggregation& input);

// OK when result.sent == succeeded + failed and failed is the sum of
// failed_by_status; INTERNAL naming the engine otherwise.
absl::Status CheckAccounting(const v1::LoadEngineResult& result);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_STATS_H_
