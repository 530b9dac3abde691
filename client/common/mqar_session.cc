#include "client/common/mqar_session.h"

#include "absl/strings/str_cat.h"
#include "client/common/channel.h"

namespace trilemma::client {

std::string FinishText(const v1::Summary& summary) {
  return absl::StrCat(v1::FinishReason_Name(summary.finish_reason()),
                      summary.detail().empty() ? "" : ": ", summary.detail());
}

std::string AppendTokens(SessionStream& session,
                         const std::vector<int32_t>& tokens,
                         std::optional<v1::Summary>* summary) {
  absl::StatusOr<v1::Summary> stored = session.Append(tokens);
  if (!stored.ok()) return StatusText(stored.status());
  *summary = *stored;
  if (stored->finish_reason() != v1::APPENDED) {
    return absl::StrCat("ended with ", FinishText(*stored));
  }
  return "";
}

std::string AskMqarQueries(SessionStream& session, const MqarWorkload& workload,
                           int64_t extra_distance, MqarQueryStats& stats) {
  for (const MqarQuery& query : workload.queries) {
    v1::GenerateTurn turn;
    turn.add_prompt(query.key);
    turn.set_max_new_tokens(1);
    turn.mutable_probe()->add_expected(query.value);
    turn.mutable_probe()->set_distance(query.distance + extra_distance);
    absl::StatusOr<SessionTurn> reply = session.Generate(turn);
    if (!reply.ok()) {
      return absl::StrCat("query ", stats.asked, ": ",
                          StatusText(reply.status()));
    }
    for (const v1::TokenEvent& token : reply->tokens) {
      ++stats.tokens;
      stats.flops += static_cast<double>(token.stats().flops());
      stats.step_seconds += token.stats().step_seconds();
    }
    if (reply->summary.finish_reason() != v1::LENGTH) {
      return absl::StrCat("query ", stats.asked, " ended with ",
                          FinishText(reply->summary));
    }
    ++stats.asked;
    if (reply->summary.recall().hit()) ++stats.hits;
  }
  return "";
}

}  // namespace trilemma::client
