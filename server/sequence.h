// The scheduler's view of a request: what a stream asks for (TurnRequest),
// where its results go (EventSink), and the per-sequence bookkeeping the
// scheduler thread keeps (Sequence, ActiveTurn).
//
// A Sequence is one engine Session plus its owner: a Generate call (one turn,
// then closed) or a Session stream (any number of turns on persistent state).
// A turn consumes its input tokens (the previous turn's unconsumed last token,
// then the request's tokens) and, for `generate`, samples new tokens; the last
// generated token stays pending and is consumed at the start of the next turn.
#ifndef TRILEMMA_SERVER_SEQUENCE_H_
#define TRILEMMA_SERVER_SEQUENCE_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engines/engine.h"
#include "server/protocol.h"
#include "server/sampler.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

// Where the scheduler delivers one stream's results. Implemented by the
// service's per-stream queue (EventStream); tests use fakes.
//
// Thread-safe: called from the scheduler thread and the stream's threads.
class EventSink {
 public:
  virtual ~EventSink() = default;

  // False while the consumer's bounded queue is full: the scheduler then
  // leaves the stream out of the next decode step (backpressure).
  virtual bool Ready() = 0;

  // True once the consumer is gone (client cancelled, deadline passed, stream
  // broken): the scheduler ends the request and frees its state.
  virtual bool Cancelled() = 0;

  // Delivers an event (token, summary, opened, closed). Never blocks.
  virtual void Push(v1::SessionEvent event) = 0;

  // Ends the stream: OK after its last event, or an error status in place of
  // further events. Only the first call counts.
  virtual void Finish(absl::Status status) = 0;

  // The front end the request came by (the `protocol` label of
  // trilemma_requests_total).
  virtual Protocol protocol() const { return Protocol::kGrpc; }
};

// One unit of work on a sequence: append tokens, or generate after an
// optional prompt. REQUIRES (checked by the service): token ids < vocab,
// append tokens non-empty, max_new_tokens in [1, 65536], valid sampling,
// probe.expected non-empty and no longer than max_new_tokens.
struct TurnRequest {
  enum class Kind { kAppend, kGenerate };
  Kind kind = Kind::kGenerate;
  std::vector<int32_t> tokens;
  int32_t max_new_tokens = 1;
  v1::Sampling sampling;
  std::optional<v1::RecallProbe> probe;
};

// A turn in progress (scheduler thread only).
struct ActiveTurn {
  ActiveTurn(TurnRequest request, absl::Time accepted)
      : request(std::move(request)),
        accepted(accepted),
        sampler(this->request.sampling) {}

  bool generating() const {
    return request.kind == TurnRequest::Kind::kGenerate;
  }
  // Inputs prefilled before decoding: all of an append's, all but the last
  // of a generate's (the last one is consumed by the first decode step so
  // the first token comes out of a batched step with its exact cost).
  size_t prefill_end() const {
    return generating() ? inputs.size() - 1 : inputs.size();
  }
  // Tokens of the request (not the carried-over pending one) consumed.
  int64_t prompt_tokens_consumed() const {
    return std::max<int64_t>(0, inputs_consumed - prompt_offset);
  }

  TurnRequest request;
  absl::Time accepted;
  double queue_seconds = 0.0;
  Sampler sampler;

  // The carried-over pending token (if any) followed by request.tokens.
  std::vector<int32_t> inputs;
  int64_t prompt_offset = 0;  // 1 when inputs[0] is the pending token
  int64_t inputs_consumed = 0;

  bool decoding = false;
  int32_t next_token = 0;  // what the next decode step consumes
  int32_t generated = 0;

  int64_t flops = 0;
  int64_t peak_state_bytes = 0;
  std::optional<absl::Time> first_token_at;
  absl::Time last_token_at;

  // Recall probe scoring (greedy argmax at each position).
  int32_t matched = 0;
  int64_t recall_context_tokens = 0;

  // Preemptions suffered during the turn and the tokens recomputed after.
  int32_t preemptions = 0;
  int64_t recomputed_tokens = 0;
};

// Where a sequence is in its life. Every change goes through
// Sequence::SetState, which aborts the process on a transition not in this
// table (a scheduler bug, never bad input; not compiled out by NDEBUG):
//
//   kWaiting     -> kIdle (admitted), kRetired
//   kIdle        -> kPrefilling, kDecoding (a turn began), kPreempted,
//                   kRetired
//   kPrefilling  -> kDecoding, kIdle (the turn ended), kPreempted, kRetired
//   kDecoding    -> kIdle, kPreempted, kRetired
//   kPreempted   -> kRecomputing (re-admitted), kIdle, kPrefilling,
//                   kDecoding (re-admitted with no context to recompute),
//                   kRetired
//   kRecomputing -> kIdle, kPrefilling, kDecoding (caught up), kPreempted,
//                   kRetired
//   kRetired     -> (none)
//
// A turn (Sequence::turn) may outlive the states that run it: a preempted or
// recomputing sequence keeps its turn and resumes it in the phase it was in
// (ActiveTurn::decoding), so a running turn is not a state of its own.
enum class SequenceState {
  kWaiting,      // never admitted: no session, no Opened sent
  kIdle,         // holds state; no turn is running (between a Session's turns)
  kPrefilling,   // holds state; its turn consumes inputs in chunks
  kDecoding,     // holds state; its turn joins the batched decode step
  kPreempted,    // lost its state to the budget; waits for re-admission
  kRecomputing,  // re-admitted; prefills its token history to catch up
  kRetired,      // finished; its stream ended; swept out at a safe point
};

absl::string_view SequenceStateName(SequenceState state);
// True when the table above allows `from` -> `to`.
bool IsLegalTransition(SequenceState from, SequenceState to);

// One engine session and its owner (scheduler thread only).
struct Sequence {
  SequenceState state() const { return state_; }
  // Moves to `next`. Aborts (with both states and the id on stderr) when the
  // transition is illegal.
  void SetState(SequenceState next);
  bool retired() const { return state_ == SequenceState::kRetired; }
  // Admitted at least once (a Session's Opened was sent).
  bool opened() const {
    return state_ != SequenceState::kWaiting &&
           !(state_ == SequenceState::kRetired && !was_admitted_);
  }
  // Holds its session and has caught up: may begin a turn or run one.
  bool running() const {
    return state_ == SequenceState::kIdle ||
           state_ == SequenceState::kPrefilling ||
           state_ == SequenceState::kDecoding;
  }
  // What a re-admitted or caught-up sequence resumes: its turn's phase, or
  // idle.
  SequenceState ResumeState() const {
    if (!turn) return SequenceState::kIdle;
    return turn->decoding ? SequenceState::kDecoding
                          : SequenceState::kPrefilling;
  }

  uint64_t id = 0;
  // Session streams keep their state across turns; Generate calls close
  // after their one turn.
  bool persistent = false;
  v1::Limits limits;
  std::shared_ptr<EventSink> sink;
  absl::Time submitted;
  // The client's deadline (infinite without one).
  absl::Time deadline = absl::InfiniteFuture();
  double admission_seconds = 0.0;
  // Holds a place under SchedulerOptions::max_open_streams until retired.
  bool counted_open = false;
  // Stayed in the admission queue past an admission pass.
  bool had_to_wait = false;
  // Wall seconds per prompt token of this sequence's prefill chunks (a
  // running average; 0 before the first) and its last chunk's tokens; they
  // size chunks under a time budget.
  double prefill_seconds_per_token = 0.0;
  int64_t last_prefill_chunk = 0;

  std::unique_ptr<Session> session;  // null while waiting for admission
  std::deque<std::pair<TurnRequest, absl::Time>> queued_turns;
  std::optional<ActiveTurn> turn;
  std::optional<int32_t> pending_token;
  int64_t peak_state_bytes = 0;  // over the stream's life

  // When it last entered the admission queue (admission timeouts count from
  // here) and when its last turn ended (the idle timeout counts from here).
  absl::Time waiting_since;
  absl::Time idle_since;
  // Every token the session consumed, in order: after a preemption freed
  // its state, a new session recomputes the context from this. 4 bytes a
  // token on the server, beside state that is 100s of bytes a token.
  std::vector<int32_t> history;
  // Tokens of `history` the current session holds; below history.size()
  // while it recomputes.
  int64_t replayed = 0;

  // Notes tokens the current session just consumed.
  void RecordConsumed(absl::Span<const int32_t> tokens) {
    history.insert(history.end(), tokens.begin(), tokens.end());
    replayed = static_cast<int64_t>(history.size());
  }
  bool recomputing() const {
    return replayed < static_cast<int64_t>(history.size());
  }
  // Tokens the sequence has consumed, whether or not it holds them now.
  int64_t context_tokens() const {
    return static_cast<int64_t>(history.size());
  }
  int64_t total_state_bytes() const {
    return session == nullptr
               ? 0
               : session->state_bytes() + session->external_state_bytes();
  }
  void NotePeak() {
    const int64_t now = total_state_bytes();
    peak_state_bytes = std::max(peak_state_bytes, now);
    if (turn) turn->peak_state_bytes = std::max(turn->peak_state_bytes, now);
  }

 private:
  SequenceState state_ = SequenceState::kWaiting;
  bool was_admitted_ = false;
};

// A request limit that consuming more tokens would break: how the turn ends.
struct LimitBreach {
  v1::FinishReason reason = v1::CONTEXT_LIMIT;  // or STATE_LIMIT
  std::string detail;                           // names the limit and its value
};

// The request limit (max_context_tokens, then max_state_bytes, external
// state included) that `n` more tokens in seq's session would break, if any.
// The one check for a turn's inputs and for each decode step.
// REQUIRES: seq.session is set; n >= 1.
std::optional<LimitBreach> CheckRequestLimits(const Sequence& seq, int64_t n);

// The summary of `seq`'s current turn ending with `reason`.
// REQUIRES: seq.turn is set.
v1::Summary BuildSummary(const Sequence& seq, v1::FinishReason reason,
                         std::string detail, absl::Time now);

// Analytic FLOPs of consuming n tokens whose per-token cost goes from
// `first` (the first token's) to `after` (the cost of the token after the
// last): exact when the cost is affine in context (attention, recurrent
// engines), the trapezoid in between otherwise (a window filling up).
int64_t PrefillFlops(int64_t n, int64_t first, int64_t after);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SEQUENCE_H_
