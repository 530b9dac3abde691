#include "server/sequence.h"

#include <utility>

namespace trilemma {

v1::Summary BuildSummary(const Sequence& seq, v1::FinishReason reason,
                         std::string detail, absl::Time now) {
  const ActiveTurn& turn = *seq.turn;
  v1::Summary s;
  s.set_finish_reason(reason);
  s.set_prompt_tokens(turn.prompt_tokens_consumed());
  s.set_generated_tokens(turn.generated);
  if (turn.first_token_at) {
    s.set_ttft_seconds(
        absl::ToDoubleSeconds(*turn.first_token_at - turn.accepted));
  }
  s.set_total_seconds(absl::ToDoubleSeconds(now - turn.accepted));
  s.set_queue_seconds(turn.queue_seconds);
  s.set_peak_state_bytes(turn.peak_state_bytes);
  s.set_total_flops(turn.flops);
  if (turn.request.probe) {
    v1::RecallResult* r = s.mutable_recall();
    const int32_t expected = turn.request.probe->expected_size();
    r->set_probed(true);
    r->set_matched_tokens(turn.matched);
    r->set_expected_tokens(expected);
    r->set_hit(turn.matched == expected);
    r->set_context_tokens(turn.recall_context_tokens);
    r->set_distance(turn.request.probe->distance());
  }
  s.set_context_tokens(seq.context_tokens());
  // A preempted sequence holds no state until it is re-admitted.
  if (seq.session != nullptr) {
    s.set_state_bytes(seq.session->state_bytes());
    s.set_external_state_bytes(seq.session->external_state_bytes());
  }
  s.set_preemptions(turn.preemptions);
  s.set_recomputed_tokens(turn.recomputed_tokens);
  s.set_detail(std::move(detail));
  return s;
}

int64_t PrefillFlops(int64_t n, int64_t first, int64_t after) {
  if (n <= 0) return 0;
  return n * first + (after - first) * (n - 1) / 2;
}

}  // namespace trilemma
