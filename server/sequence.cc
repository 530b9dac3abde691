#include "server/sequence.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace trilemma {

absl::string_view SequenceStateName(SequenceState state) {
  switch (state) {
    case SequenceState::kWaiting:
      return "waiting";
    case SequenceState::kIdle:
      return "idle";
    case SequenceState::kPrefilling:
      return "prefilling";
    case SequenceState::kDecoding:
      return "decoding";
    case SequenceState::kPreempted:
      return "preempted";
    case SequenceState::kRecomputing:
      return "recomputing";
    case SequenceState::kRetired:
      return "retired";
  }
  return "unknown";
}

bool IsLegalTransition(SequenceState from, SequenceState to) {
  using S = SequenceState;
  if (to == S::kRetired) return from != S::kRetired;
  switch (from) {
    case S::kWaiting:
      return to == S::kIdle;
    case S::kIdle:
      return to == S::kPrefilling || to == S::kDecoding || to == S::kPreempted;
    case S::kPrefilling:
      return to == S::kDecoding || to == S::kIdle || to == S::kPreempted;
    case S::kDecoding:
      return to == S::kIdle || to == S::kPreempted;
    case S::kPreempted:
      return to == S::kRecomputing || to == S::kIdle || to == S::kPrefilling ||
             to == S::kDecoding;
    case S::kRecomputing:
      return to == S::kIdle || to == S::kPrefilling || to == S::kDecoding ||
             to == S::kPreempted;
    case S::kRetired:
      return false;
  }
  return false;
}

void Sequence::SetState(SequenceState next) {
  if (!IsLegalTransition(state_, next)) {
    // A scheduler bug: continuing would corrupt the budget or a stream.
    const std::string message =
        absl::StrCat("FATAL: sequence ", id, ": illegal state transition ",
                     SequenceStateName(state_), " -> ", SequenceStateName(next),
                     " (server/sequence.h)\n");
    std::fputs(message.c_str(), stderr);
    std::abort();
  }
  if (state_ == SequenceState::kWaiting && next == SequenceState::kIdle) {
    was_admitted_ = true;
  }
  state_ = next;
}

std::optional<LimitBreach> CheckRequestLimits(const Sequence& seq, int64_t n) {
  const Session& session = *seq.session;
  const absl::string_view tokens = n == 1 ? " more token" : " more tokens";
  const int64_t max_context = seq.limits.max_context_tokens();
  if (max_context > 0 && session.context_tokens() + n > max_context) {
    return LimitBreach{
        v1::CONTEXT_LIMIT,
        absl::StrCat(n, tokens, " on top of ", session.context_tokens(),
                     " of context would exceed max_context_tokens ",
                     max_context)};
  }
  const int64_t max_state = seq.limits.max_state_bytes();
  const int64_t state_after =
      session.state_bytes_after(n) + session.external_state_bytes();
  if (max_state > 0 && state_after > max_state) {
    return LimitBreach{
        v1::STATE_LIMIT,
        absl::StrCat(n, tokens, " would take the state to ", state_after,
                     " bytes, over max_state_bytes ", max_state)};
  }
  return std::nullopt;
}

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
