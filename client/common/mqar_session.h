// Running an MQAR workload (mqar_workload.h) over one open Session stream:
// store the pairs, then ask the queries one generate turn each, with a recall
// probe the server scores. `recall` and `sweep` measure a row this way.
//
// Example:
//   std::optional<v1::Summary> stored;
//   if (std::string why = AppendTokens(*session, w.context, &stored);
//       !why.empty()) { ... }                 // "ended with STATE_LIMIT: ..."
//   MqarQueryStats stats;
//   std::string stopped = AskMqarQueries(*session, w, /*extra_distance=*/0,
//                                        stats);
//   double recall = stats.recall();
#ifndef TRILEMMA_CLIENT_COMMON_MQAR_SESSION_H_
#define TRILEMMA_CLIENT_COMMON_MQAR_SESSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/common/mqar_workload.h"
#include "client/common/session_stream.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

// "LENGTH", or "STATE_LIMIT: <detail>" when the summary has a detail.
std::string FinishText(const v1::Summary& summary);

// Appends `tokens`. Returns "" when the append completed, else why not (the
// gRPC status, or "ended with <finish>" for a limit). `summary` receives the
// append's Summary when one came back (stays empty otherwise).
std::string AppendTokens(SessionStream& session,
                         const std::vector<int32_t>& tokens,
                         std::optional<v1::Summary>* summary);

// What the query turns measured.
struct MqarQueryStats {
  int32_t asked = 0;
  int32_t hits = 0;
  int64_t tokens = 0;
  double flops = 0;
  double step_seconds = 0;

  double recall() const {
    return asked > 0 ? static_cast<double>(hits) / asked : 0;
  }
  // REQUIRES: tokens > 0.
  double flops_per_token() const { return flops / static_cast<double>(tokens); }
  double ms_per_step() const {
    return step_seconds * 1e3 / static_cast<double>(tokens);
  }
};

// Sets a report row's queries, hits, recall and (when a token came back)
// flops_per_token and ms_per_step; `Row` is v1::RecallRow or v1::SweepRow.
template <typename Row>
void SetQueryStats(const MqarQueryStats& stats, Row* row) {
  row->set_queries(stats.asked);
  row->set_hits(stats.hits);
  row->set_recall(stats.recall());
  if (stats.tokens > 0) {
    row->set_flops_per_token(stats.flops_per_token());
    row->set_ms_per_step(stats.ms_per_step());
  }
}

// Asks the workload's queries, one generate turn of one token each, with a
// probe whose distance is the query's plus `extra_distance` (tokens appended
// between the pairs and the queries). Returns why it stopped early ("" when
// every query was answered): "query <i>: <status>" or "query <i> ended with
// <finish>" — a limit would end every later query too. `stats` keeps what
// was measured until then.
std::string AskMqarQueries(SessionStream& session, const MqarWorkload& workload,
                           int64_t extra_distance, MqarQueryStats& stats);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_MQAR_SESSION_H_
