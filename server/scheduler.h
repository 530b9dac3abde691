// EngineScheduler: one engine's continuous-batching loop on its own thread.
//
// Each iteration (vLLM-v1-like):
//   1. take submitted commands (new requests, turns, closes);
//   2. end cancelled requests and those whose deadline passed, freeing their
//      state before any more work is spent on them;
//   3. admit waiting requests in FIFO order while Engine::NewSession can be
//      charged to the engine's budget and fewer than `max_running` hold
//      state; only then is the rest bounded: beyond `max_waiting` the newest
//      get RESOURCE_EXHAUSTED naming --max_waiting (so a burst that fits is
//      admitted whole), and each waits at most --max_queue_wait or until its
//      deadline;
//   4. prefill, under the step's token budget (docs/overload.md): decode
//      tokens of running streams are counted first, prefill chunks (at most
//      `prefill_chunk_tokens` per session) fill what is left of
//      `max_step_tokens`, and while streams decode, prefill may take at most
//      `prefill_time_share` times the last decode step's time, so one huge
//      prompt cannot starve short streams;
//   5. decode: ONE batched Engine::Step over every decoding session whose
//      stream has room, sample, and push each token (with its StepStats) to
//      the stream's sink; finish turns at max_new_tokens or a limit.
// Engine calls happen only on this thread; the submit methods just enqueue.
//
// Limits: a turn ends with STATE_LIMIT when its session would exceed the
// request's max_state_bytes, or when the engine's pool cannot grow it
// (RESOURCE_EXHAUSTED from Session::Reserve; the detail names the budget)
// and the budget policy does not preempt a younger session instead;
// with CONTEXT_LIMIT when it would exceed max_context_tokens. A turn whose
// inputs alone would break a request limit consumes nothing; a budget found
// exhausted mid-prefill ends the turn where it is (prompt_tokens says how
// far it got).
//
// Every submitted request gets exactly one terminal: for a Generate, tokens,
// one Summary and Finish(OK), or Finish(error); for a Session, Opened, then
// per turn tokens and a Summary, then Closed and Finish(OK), or Finish(error).
//
// Example:
//   EngineScheduler scheduler(engine.get(), &metrics.ForEngine(engine->info()),
//                             {});
//   scheduler.SubmitGenerate({}, TurnRequest{.tokens = {3, 17}}, sink);
//
// Thread-safe: every public method may be called from any thread.
#ifndef TRILEMMA_SERVER_SCHEDULER_H_
#define TRILEMMA_SERVER_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engines/engine.h"
#include "server/metrics.h"
#include "server/sequence.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

struct SchedulerOptions {
  // Threads one engine step may use on the scheduler thread
  // (SetStepThreads); the server gives each engine its share of the cores.
  int engine_threads = 1;
  // Sessions stepped together at most.
  int max_batch_size = 64;
  // Prompt tokens one session consumes per iteration at most.
  int prefill_chunk_tokens = 256;
  // Prompt tokens all sessions consume per iteration at most.
  int max_prefill_tokens_per_step = 1024;
  // External-tier bytes (e.g. a memory engine's key-value store) all
  // sessions of this engine may hold: 0 = no budget, < 0 = the engine's
  // state budget. Growth is checked before it happens, at the engine's
  // external_bytes_per_token, and what is held after (a store that doubles
  // its capacity can exceed the estimate by one doubling); over the budget
  // the budget policy applies as for the model tier (preempt the youngest,
  // or STATE_LIMIT).
  int64_t external_budget_bytes = 0;
  // Context tokens any sequence may hold (0: no cap): a request's own
  // max_context_tokens is lowered to it (CONTEXT_LIMIT names the value).
  int64_t max_context_tokens = 0;
  // Tokens one iteration consumes at most (vLLM's max_num_batched_tokens):
  // one per decoding stream first, prefill chunks fill what is left.
  int max_step_tokens = 512;
  // While other sequences share the engine, the prefill chunks of one
  // iteration may take at most this multiple of a decode step's wall time
  // (running average; chunks sized from each session's measured rate), so
  // a short stream runs within about (1 + share) of its speed alone; a
  // prompt alone is prefilled in 10 ms slices. 0 leaves prefill to the
  // token budgets.
  double prefill_time_share = 1.0;
  // Sequences holding state on this engine at most (vLLM's max_num_seqs):
  // running Generate calls plus open Session streams; more wait. As many as
  // one decode batch by default: more would only share the same steps and
  // pile up work that a CPU engine cannot finish in time.
  int max_running = 64;
  // Requests waiting for admission at most once everything that fits was
  // admitted; the newest beyond it get RESOURCE_EXHAUSTED naming the cap.
  int max_waiting = 256;
  // How long a request may wait for admission.
  absl::Duration max_queue_wait = absl::Seconds(30);
  // Open streams (Generate calls and Session streams, waiting or running)
  // over every scheduler sharing `open_streams`; more get RESOURCE_EXHAUSTED
  // naming --max_open_streams at once. Copies of one SchedulerOptions share
  // the counter, so a server's engines share the cap.
  int64_t max_open_streams = 2048;
  std::shared_ptr<std::atomic<int64_t>> open_streams =
      std::make_shared<std::atomic<int64_t>>(0);
  // What happens to a running session the engine's budget cannot grow.
  enum class BudgetPolicy {
    // End its turn with STATE_LIMIT; a Session keeps what it holds.
    kReject,
    // Free the youngest (last submitted) session holding state and re-queue
    // it at the front of the admission queue; once re-admitted it recomputes
    // its context from its token history, then goes on where it stopped
    // (greedy output is unchanged). The oldest session therefore always
    // progresses. A session that is alone with the budget and still cannot
    // grow ends its turn with STATE_LIMIT, as under kReject.
    kPreempt,
  };
  BudgetPolicy budget_policy = BudgetPolicy::kPreempt;
  // A Session stream with no turn running or queued for this long is closed
  // (DEADLINE_EXCEEDED naming the option) and its state freed, so abandoned
  // streams do not hold the budget. absl::InfiniteDuration() disables.
  absl::Duration session_idle_timeout = absl::Minutes(10);
  // False skips the metric updates made per step and per token (histograms,
  // token/FLOP counters, gauges), so a benchmark can measure their cost;
  // per-request counters stay. Serving keeps them on.
  bool step_metrics = true;
};

// Parses "reject" or "preempt" (a flag's value); INVALID_ARGUMENT otherwise.
absl::StatusOr<SchedulerOptions::BudgetPolicy> ParseBudgetPolicy(
    absl::string_view name);
absl::string_view BudgetPolicyName(SchedulerOptions::BudgetPolicy policy);

class EngineScheduler {
 public:
  using SequenceId = uint64_t;

  // Starts the thread. `engine` and `metrics` must outlive this.
  EngineScheduler(const Engine* engine, EngineMetrics* metrics,
                  SchedulerOptions options);
  // Stop()s.
  ~EngineScheduler();

  EngineScheduler(const EngineScheduler&) = delete;
  EngineScheduler& operator=(const EngineScheduler&) = delete;

  const Engine& engine() const { return *engine_; }

  // A Generate call: admit, run `turn`, close. `accepted` is when the server
  // took the request (TTFT and queue time count from it).
  // `deadline` is the client's (gRPC) deadline: a request still waiting at
  // it ends with DEADLINE_EXCEEDED before any prefill, one whose expected
  // wait for admission is longer is refused at once (RESOURCE_EXHAUSTED),
  // and a running one ends at it within one step, its state freed.
  void SubmitGenerate(const v1::Limits& limits, TurnRequest turn,
                      std::shared_ptr<EventSink> sink,
                      absl::Time accepted = absl::Now(),
                      absl::Time deadline = absl::InfiniteFuture());

  // The id a Session stream will be known by. Take it before OpenSession:
  // once opened, replies (and so the stream's next requests) may come before
  // OpenSession returns.
  SequenceId NewSessionId();
  // A Session stream `id` (from NewSessionId): admit, then push
  // SessionOpened (or Finish(error)). Later turns and the close name `id`.
  // `deadline`: the stream's, as for SubmitGenerate (the whole stream ends
  // at it).
  void OpenSession(SequenceId id, const v1::Limits& limits,
                   std::shared_ptr<EventSink> sink,
                   absl::Time accepted = absl::Now(),
                   absl::Time deadline = absl::InfiniteFuture());
  // Queues a turn; turns of one session run in order. Ignored when `id` is
  // already closed.
  void SubmitTurn(SequenceId id, TurnRequest turn,
                  absl::Time accepted = absl::Now());
  // Stops the running turn of session `id` and every turn queued before
  // this call: each ends with a CANCELLED summary (tokens generated so far
  // are kept in the context, the unconsumed rest of a prompt is dropped) and
  // the session stays open with its state. Ignored when nothing runs.
  void StopTurns(SequenceId id);
  // Ends a session (a running turn ends CANCELLED) and frees its state. With
  // `reply`, pushes SessionClosed and Finish(OK); without, the caller has
  // ended the stream already. Ignored when `id` is already closed.
  void CloseSession(SequenceId id, bool reply);

  // Makes the loop look again (a stream got room or was cancelled).
  void Wake();

  // Stops taking requests (new ones get UNAVAILABLE), refuses waiting ones
  // and closes Session streams once idle; running turns go on.
  void BeginDrain();
  // True when no request is queued, waiting or running.
  bool Idle() const;

  // Ends everything (running turns with a SHUTDOWN summary, other streams
  // with UNAVAILABLE) and joins the thread. Later submissions get
  // UNAVAILABLE. Idempotent.
  void Stop();

 private:
  struct Command {
    enum class Kind { kOpen, kTurn, kStop, kClose };
    Kind kind = Kind::kOpen;
    SequenceId id = 0;
    absl::Time at;
    absl::Time deadline = absl::InfiniteFuture();
    // kOpen
    bool persistent = false;
    v1::Limits limits;
    std::shared_ptr<EventSink> sink;
    // kOpen of a Generate, kTurn
    std::optional<TurnRequest> turn;
    // kClose
    bool reply = false;
  };

  // Enqueues `command`, or refuses it with UNAVAILABLE once stopped.
  void Submit(Command command);
  // A kOpen command for sequence `id` (the caller adds the turn or marks it
  // persistent).
  static Command OpenCommand(SequenceId id, const v1::Limits& limits,
                             std::shared_ptr<EventSink> sink,
                             absl::Time accepted, absl::Time deadline);
  void Run();
  void WaitForWork(absl::Duration timeout);

  // Loop phases (scheduler thread). Each returns whether it changed anything.
  void Apply(Command command);
  bool ReapCancelled(absl::Time now);
  bool AdmitWaiting(absl::Time now);
  bool StartTurns(absl::Time now);
  // Prefills within `budget` tokens; `time_budget` seconds (infinite when no
  // stream decodes) caps the estimated time of the chunks.
  bool PrefillChunks(int64_t budget, double time_budget);
  // Seconds of prefill this iteration may take (docs/overload.md): infinite
  // without a time share, a 10 ms slice for a prompt alone, else the share
  // of a decode step.
  double PrefillTimeBudget(int64_t decoding) const;
  // Streams the next DecodeStep would take (capped at max_batch_size).
  int64_t CountDecodeReady();
  // Bytes seq's `session` still grows by to finish its recompute and its
  // running turn (0 when idle).
  int64_t RemainingGrowthBytes(const Sequence& seq,
                               const Session& session) const;
  // OK when preempted `seq`, in its `fresh` session, can be re-admitted
  // without being preempted again before its turn ends; RESOURCE_EXHAUSTED
  // naming the budget otherwise.
  absl::Status ReadmissionRoom(const Sequence& seq, const Session& fresh) const;
  // Refuses the newest waiting requests beyond max_waiting.
  bool BoundWaiting();
  // The external budget in bytes (0 = none) and what admitted sessions hold.
  int64_t ExternalBudget() const;
  int64_t ExternalUsed() const;
  // RESOURCE_EXHAUSTED naming --external_budget_bytes when `more` bytes do
  // not fit beside what is held (more = 0: when what is held is over the
  // budget); OK without a budget.
  absl::Status CheckExternal(int64_t more) const;
  // Releases the stream's place under max_open_streams (once).
  void ReleaseOpenStream(Sequence* seq);
  bool DecodeStep();
  void RetireIdleForDrain();
  // Closes Session streams idle past session_idle_timeout; returns the
  // earliest time another may reach it.
  absl::Time CloseIdleSessions(absl::Time now);
  void CutAll();
  void PublishGauges();
  // Removes retired sequences from the containers and moves preempted ones
  // from admitted_ back to the front of waiting_.
  void Sweep();

  void BeginTurn(Sequence* seq, TurnRequest request, absl::Time accepted,
                 absl::Time now);
  // When `n` more tokens would break a request limit of seq's turn, ends the
  // turn with CONTEXT_LIMIT or STATE_LIMIT and returns true.
  bool EndTurnAtRequestLimit(Sequence* seq, int64_t n);
  // Ends seq's turn with a summary; a Generate's sequence is retired.
  void FinishTurn(Sequence* seq, v1::FinishReason reason, std::string detail);
  // Reserves room for `n` more tokens in seq's session, applying the budget
  // policy when the pool is exhausted. False when seq cannot go on this
  // iteration (it was preempted, its turn ended, or it failed).
  bool ReserveOrPreempt(Sequence* seq, int64_t n);
  // The pool could not grow seq's session: applies the budget policy.
  // Returns true when another session was preempted, so seq may retry.
  bool HandleBudgetExhausted(Sequence* seq, const absl::Status& status);
  // Frees seq's state; Sweep() re-queues it for admission and recompute.
  void Preempt(Sequence* seq);
  // Prefills the next chunk of seq's token history after a preemption.
  // Returns the tokens consumed.
  int64_t RecomputeChunk(Sequence* seq, int64_t budget);
  // Frees seq's state and ends its stream with `status`.
  void Retire(Sequence* seq, absl::Status status);
  // Retires with an error status, counting its outcome.
  void Fail(Sequence* seq, absl::Status status);
  // Records a token produced for seq's turn by a step with `stats`.
  void EmitToken(Sequence* seq, int32_t token, int32_t greedy_token,
                 v1::StepStats stats, absl::Time now);

  const Engine* const engine_;
  EngineMetrics* const metrics_;
  const SchedulerOptions options_;
  const int vocab_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<Command> inbox_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Sequences alive in the loop (updated by the loop).
  int64_t live_ ABSL_GUARDED_BY(mu_) = 0;
  SequenceId next_id_ ABSL_GUARDED_BY(mu_) = 1;

  // Scheduler-thread state.
  absl::flat_hash_map<SequenceId, std::unique_ptr<Sequence>> sequences_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> admitted_;  // in admission order
  bool draining_seen_ = false;
  size_t decode_cursor_ = 0;  // round-robin start when batches are capped
  size_t prefill_cursor_ = 0;
  std::string last_admission_error_;
  // Running averages: wall time of a decode step, and of the wait of
  // requests that had to queue (admission refuses requests whose deadline
  // comes sooner).
  double decode_step_seconds_ = 0.0;
  double queued_wait_seconds_ = 0.0;
  // How long a measured admission wait is used to refuse requests whose
  // deadline comes sooner.
  static constexpr absl::Duration kQueuedWaitMemory = absl::Seconds(10);
  absl::Time queued_wait_updated_ = absl::InfinitePast();
  // Heap trimming once the loop goes idle after work (at most once a
  // second).
  bool trim_due_ = false;
  absl::Time last_trim_ = absl::InfinitePast();
  std::vector<float> logits_;

  std::thread thread_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SCHEDULER_H_
