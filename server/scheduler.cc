// EngineScheduler's loop, submission API and lifecycle (drain, stop);
// admission is in scheduler_admission.cc, the per-turn logic in
// scheduler_turns.cc.
#include "server/scheduler.h"

#include <malloc.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trilemma {
namespace {

// How the outcome of a failed request is counted.
Outcome OutcomeOfStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return Outcome::kRejected;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return Outcome::kInvalid;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:  // an idle Session closed
      return Outcome::kCancelled;
    case absl::StatusCode::kUnavailable:
      return Outcome::kShutdown;
    default:
      return Outcome::kError;
  }
}

// Prefill time per iteration: of a prompt prefilled alone, and at least
// while others share the engine (before a decode step was measured).
constexpr absl::Duration kLonePrefillSlice = absl::Milliseconds(10);
constexpr absl::Duration kMinPrefillSlice = absl::Milliseconds(1);

absl::Status Draining() {
  return absl::UnavailableError("server is draining; retry elsewhere");
}

absl::Status ShuttingDown() {
  return absl::UnavailableError("server is shutting down");
}

}  // namespace

absl::StatusOr<SchedulerOptions::BudgetPolicy> ParseBudgetPolicy(
    absl::string_view name) {
  if (name == "reject") return SchedulerOptions::BudgetPolicy::kReject;
  if (name == "preempt") return SchedulerOptions::BudgetPolicy::kPreempt;
  return absl::InvalidArgumentError(absl::StrCat(
      "budget_policy: '", name, "' is not one of reject, preempt"));
}

absl::string_view BudgetPolicyName(SchedulerOptions::BudgetPolicy policy) {
  switch (policy) {
    case SchedulerOptions::BudgetPolicy::kReject:
      return "reject";
    case SchedulerOptions::BudgetPolicy::kPreempt:
      return "preempt";
  }
  return "unknown";
}

EngineScheduler::EngineScheduler(const Engine* engine, EngineMetrics* metrics,
                                 SchedulerOptions options)
    : engine_(engine),
      metrics_(metrics),
      options_(std::move(options)),
      vocab_(engine->info().shape().vocab()) {
  thread_ = std::thread([this] { Run(); });
}

EngineScheduler::~EngineScheduler() { Stop(); }

void EngineScheduler::Submit(Command command) {
  if (command.kind == Command::Kind::kOpen) {
    // The global cap is checked here, before anything is queued, so a
    // refusal costs the loop nothing.
    const int64_t open = options_.open_streams->fetch_add(1) + 1;
    if (open > options_.max_open_streams) {
      options_.open_streams->fetch_sub(1);
      metrics_->limit_events(LimitEvent::kQueueFull).Increment();
      metrics_->requests(Outcome::kRejected, command.sink->protocol())
          .Increment();
      command.sink->Finish(absl::ResourceExhaustedError(
          absl::StrCat("the server already has ", options_.max_open_streams,
                       " open streams (--max_open_streams); retry later")));
      return;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      inbox_.push_back(std::move(command));
      cv_.Signal();
      return;
    }
  }
  // The loop is gone: refuse here (a turn or close has no one to answer).
  if (command.kind == Command::Kind::kOpen) {
    options_.open_streams->fetch_sub(1);
    command.sink->Finish(ShuttingDown());
  }
}

double EngineScheduler::PrefillTimeBudget(int64_t decoding) const {
  if (options_.prefill_time_share <= 0) {
    return std::numeric_limits<double>::infinity();
  }
  int64_t active = 0;
  for (const Sequence* a : admitted_) {
    const SequenceState st = a->state();
    active += st == SequenceState::kPrefilling ||
                      st == SequenceState::kDecoding ||
                      st == SequenceState::kRecomputing
                  ? 1
                  : 0;
  }
  if (decoding == 0 && active <= 1 && waiting_.empty()) {
    // Alone: full speed, in slices short enough that a request arriving
    // meanwhile is not kept waiting for a long chunk.
    return absl::ToDoubleSeconds(kLonePrefillSlice);
  }
  return options_.prefill_time_share *
         std::max(decode_step_seconds_,
                  absl::ToDoubleSeconds(kMinPrefillSlice));
}

int64_t EngineScheduler::ExternalBudget() const {
  const int64_t budget = options_.external_budget_bytes;
  return budget < 0 ? engine_->budget().budget_bytes : budget;
}

int64_t EngineScheduler::ExternalUsed() const {
  int64_t used = 0;
  for (const Sequence* a : admitted_) {
    if (a->session != nullptr) used += a->session->external_state_bytes();
  }
  return used;
}

absl::Status EngineScheduler::CheckExternal(int64_t more) const {
  const int64_t budget = ExternalBudget();
  if (budget == 0 || more < 0) return absl::OkStatus();
  const int64_t used = ExternalUsed();
  if (used + more <= budget) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("external state budget of engine '", engine_->info().name(),
                   "' exhausted: ", used, " of ", budget, " bytes in use, ",
                   more, " more needed (--external_budget_bytes)"));
}

void EngineScheduler::ReleaseOpenStream(Sequence* s) {
  if (!s->counted_open) return;
  s->counted_open = false;
  options_.open_streams->fetch_sub(1);
}

EngineScheduler::Command EngineScheduler::OpenCommand(
    SequenceId id, const v1::Limits& limits, std::shared_ptr<EventSink> sink,
    absl::Time accepted, absl::Time deadline) {
  Command c;
  c.kind = Command::Kind::kOpen;
  c.id = id;
  c.at = accepted;
  c.deadline = deadline;
  c.limits = limits;
  c.sink = std::move(sink);
  return c;
}

void EngineScheduler::SubmitGenerate(const v1::Limits& limits, TurnRequest turn,
                                     std::shared_ptr<EventSink> sink,
                                     absl::Time accepted, absl::Time deadline) {
  Command c =
      OpenCommand(NewSessionId(), limits, std::move(sink), accepted, deadline);
  c.turn = std::move(turn);
  Submit(std::move(c));
}

EngineScheduler::SequenceId EngineScheduler::NewSessionId() {
  absl::MutexLock lock(&mu_);
  return next_id_++;
}

void EngineScheduler::OpenSession(SequenceId id, const v1::Limits& limits,
                                  std::shared_ptr<EventSink> sink,
                                  absl::Time accepted, absl::Time deadline) {
  Command c = OpenCommand(id, limits, std::move(sink), accepted, deadline);
  c.persistent = true;
  Submit(std::move(c));
}

void EngineScheduler::SubmitTurn(SequenceId id, TurnRequest turn,
                                 absl::Time accepted) {
  Command c;
  c.kind = Command::Kind::kTurn;
  c.id = id;
  c.at = accepted;
  c.turn = std::move(turn);
  Submit(std::move(c));
}

void EngineScheduler::StopTurns(SequenceId id) {
  Command c;
  c.kind = Command::Kind::kStop;
  c.id = id;
  Submit(std::move(c));
}

void EngineScheduler::CloseSession(SequenceId id, bool reply) {
  Command c;
  c.kind = Command::Kind::kClose;
  c.id = id;
  c.reply = reply;
  Submit(std::move(c));
}

void EngineScheduler::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
  cv_.Signal();
}

void EngineScheduler::BeginDrain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  cv_.Signal();
}

bool EngineScheduler::Idle() const {
  absl::MutexLock lock(&mu_);
  return inbox_.empty() && live_ == 0;
}

void EngineScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

void EngineScheduler::WaitForWork(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (inbox_.empty() && !wake_ && !stopping_ &&
         !(draining_ && !draining_seen_)) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  wake_ = false;
}

void EngineScheduler::Run() {
  SetStepThreads(options_.engine_threads);
  for (;;) {
    std::vector<Command> commands;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      commands.swap(inbox_);
      // Taken commands count as live until applied, so Idle() stays false.
      live_ = static_cast<int64_t>(sequences_.size() + commands.size());
      stopping = stopping_;
      draining_seen_ = draining_;
    }
    for (Command& c : commands) Apply(std::move(c));
    if (stopping) {
      CutAll();
      absl::MutexLock lock(&mu_);
      // Commands that raced with the stop.
      for (Command& c : inbox_) {
        if (c.kind != Command::Kind::kOpen) continue;
        options_.open_streams->fetch_sub(1);
        c.sink->Finish(ShuttingDown());
      }
      inbox_.clear();
      stopped_ = true;
      live_ = 0;
      break;
    }
    const absl::Time now = absl::Now();
    bool changed = ReapCancelled(now);
    if (draining_seen_) RetireIdleForDrain();
    const absl::Time next_idle_close = CloseIdleSessions(now);
    changed |= AdmitWaiting(now);
    changed |= BoundWaiting();
    changed |= StartTurns(now);
    // The step's token budget: decode tokens first, prefill the rest.
    const int64_t decoding = CountDecodeReady();
    const int64_t prefill_budget = std::max<int64_t>(
        1, std::min<int64_t>(options_.max_prefill_tokens_per_step,
                             options_.max_step_tokens - decoding));
    const double time_budget = PrefillTimeBudget(decoding);
    changed |= PrefillChunks(prefill_budget, time_budget);
    changed |= DecodeStep();
    Sweep();
    PublishGauges();
    {
      absl::MutexLock lock(&mu_);
      live_ = static_cast<int64_t>(sequences_.size());
    }
    if (!sequences_.empty()) {
      trim_due_ = true;
    } else if (trim_due_ && now - last_trim_ >= absl::Seconds(1)) {
      // Idle after work: hand the freed heap back to the OS. glibc keeps
      // what the per-thread arenas of gRPC's and this loop's allocations
      // freed (docs/overload.md measures it); malloc_trim returns the free
      // pages of every arena.
      trim_due_ = false;
      last_trim_ = now;
      // The logits buffer grew to the largest batch (64 x vocab floats, 2
      // MiB at V = 8192); an idle engine does not need it.
      std::vector<float>().swap(logits_);
      // The engine's forward scratch (per thread, at the largest chunk met)
      // lives on this thread, the one that runs its Step/Prefill; freed here
      // so malloc_trim can return its pages.
      engine_->ReleaseScratch();
      malloc_trim(0);
    }
    if (!changed) {
      // Waiting requests and idle sessions time out on their own; otherwise
      // only a command or a wake (room in a stream, a cancel) can make
      // progress.
      absl::Time due = std::min(now + absl::Seconds(1), next_idle_close);
      for (const Sequence* s : waiting_) {
        due = std::min(
            {due, s->waiting_since + options_.max_queue_wait, s->deadline});
      }
      for (const Sequence* s : admitted_) due = std::min(due, s->deadline);
      WaitForWork(std::max(due - now, absl::Milliseconds(1)));
    }
  }
}

void EngineScheduler::Apply(Command c) {
  switch (c.kind) {
    case Command::Kind::kOpen: {
      auto seq = std::make_unique<Sequence>();
      seq->id = c.id;
      seq->persistent = c.persistent;
      seq->limits = c.limits;
      const int64_t cap = options_.max_context_tokens;
      if (cap > 0 && (seq->limits.max_context_tokens() == 0 ||
                      seq->limits.max_context_tokens() > cap)) {
        seq->limits.set_max_context_tokens(cap);
      }
      seq->sink = std::move(c.sink);
      seq->submitted = c.at;
      seq->deadline = c.deadline;
      seq->counted_open = true;
      seq->waiting_since = c.at;
      if (c.turn) seq->queued_turns.emplace_back(std::move(*c.turn), c.at);
      Sequence* s = seq.get();
      sequences_.emplace(s->id, std::move(seq));
      const absl::Time now = absl::Now();
      if (draining_seen_) {
        Fail(s, Draining());
      } else if (now >= s->deadline) {
        Fail(s, absl::DeadlineExceededError(
                    "the request's deadline passed before it reached the "
                    "scheduler"));
      } else if (!waiting_.empty() && queued_wait_seconds_ > 0 &&
                 now - queued_wait_updated_ < kQueuedWaitMemory &&
                 absl::ToDoubleSeconds(s->deadline - now) <
                     queued_wait_seconds_) {
        // Requests queue here now, and recent ones waited longer than this
        // one's deadline allows: refuse it fast rather than let it expire.
        metrics_->limit_events(LimitEvent::kQueueTimeout).Increment();
        Fail(s,
             absl::ResourceExhaustedError(absl::StrFormat(
                 "engine '%s': %d requests wait for admission (state "
                 "budget or --max_running) and recent ones waited %.3f s, "
                 "longer than the %.3f s left before this request's "
                 "deadline",
                 engine_->info().name(), waiting_.size(), queued_wait_seconds_,
                 absl::ToDoubleSeconds(s->deadline - now))));
      } else {
        // Always queued: the queue is bounded only after admission took
        // what fits (BoundWaiting), so a burst within budget is admitted.
        waiting_.push_back(s);
      }
      return;
    }
    case Command::Kind::kTurn: {
      auto it = sequences_.find(c.id);
      if (it == sequences_.end() || it->second->retired()) return;
      it->second->queued_turns.emplace_back(std::move(*c.turn), c.at);
      return;
    }
    case Command::Kind::kStop: {
      auto it = sequences_.find(c.id);
      if (it == sequences_.end() || it->second->retired()) return;
      Sequence* s = it->second.get();
      if (s->turn) FinishTurn(s, v1::CANCELLED, "stopped by the client");
      // Turns queued before the stop end too, each with its one reply.
      while (!s->queued_turns.empty()) {
        auto [request, accepted] = std::move(s->queued_turns.front());
        s->queued_turns.pop_front();
        s->turn.emplace(std::move(request), accepted);
        FinishTurn(s, v1::CANCELLED, "stopped by the client before it began");
      }
      return;
    }
    case Command::Kind::kClose: {
      auto it = sequences_.find(c.id);
      if (it == sequences_.end() || it->second->retired()) return;
      Sequence* s = it->second.get();
      if (!s->opened()) {
        Fail(s, absl::CancelledError("session closed before admission"));
        return;
      }
      // (A preempted session has no state to free but closes the same way.)
      if (s->turn) FinishTurn(s, v1::CANCELLED, "session closed mid-turn");
      if (c.reply) {
        v1::SessionEvent closed;
        closed.mutable_closed()->set_context_tokens(s->context_tokens());
        closed.mutable_closed()->set_peak_state_bytes(s->peak_state_bytes);
        s->sink->Push(std::move(closed));
      }
      Retire(s, c.reply ? absl::OkStatus()
                        : absl::CancelledError("session closed"));
      return;
    }
  }
}

void EngineScheduler::Retire(Sequence* s, absl::Status status) {
  if (s->retired()) return;
  s->SetState(SequenceState::kRetired);
  ReleaseOpenStream(s);
  s->turn.reset();
  s->session.reset();  // gives the state back to the pool now
  s->sink->Finish(std::move(status));
}

void EngineScheduler::Fail(Sequence* s, absl::Status status) {
  if (s->retired()) return;
  metrics_->requests(OutcomeOfStatus(status), s->sink->protocol()).Increment();
  Retire(s, std::move(status));
}

void EngineScheduler::RetireIdleForDrain() {
  for (auto& [id, seq] : sequences_) {
    Sequence* s = seq.get();
    if (s->retired()) continue;
    if (!s->opened()) {
      Fail(s, Draining());
    } else if (s->persistent && !s->turn && s->queued_turns.empty()) {
      Retire(s, Draining());
    }
    // A preempted running turn still waits for re-admission and finishes.
  }
}

absl::Time EngineScheduler::CloseIdleSessions(absl::Time now) {
  absl::Time next = absl::InfiniteFuture();
  const absl::Duration timeout = options_.session_idle_timeout;
  if (timeout == absl::InfiniteDuration()) return next;
  for (auto& [id, seq] : sequences_) {
    Sequence* s = seq.get();
    if (s->retired() || !s->persistent || !s->opened() || s->turn ||
        !s->queued_turns.empty()) {
      continue;
    }
    const absl::Time due = s->idle_since + timeout;
    if (now < due) {
      next = std::min(next, due);
      continue;
    }
    metrics_->limit_events(LimitEvent::kSessionIdle).Increment();
    Fail(s, absl::DeadlineExceededError(absl::StrCat(
                "session idle for ", absl::FormatDuration(now - s->idle_since),
                " with no turn, over --session_idle_timeout=",
                absl::FormatDuration(timeout), "; its state was freed")));
  }
  return next;
}

void EngineScheduler::CutAll() {
  for (auto& [id, seq] : sequences_) {
    Sequence* s = seq.get();
    if (s->retired()) continue;
    if (s->turn) FinishTurn(s, v1::SHUTDOWN, "server shutting down");
    if (!s->opened()) {
      Fail(s, ShuttingDown());
    } else {
      Retire(s, ShuttingDown());
    }
  }
  Sweep();
  PublishGauges();
}

void EngineScheduler::Sweep() {
  auto retired = [](const Sequence* s) { return s->retired(); };
  auto preempted = [](const Sequence* s) {
    return s->state() == SequenceState::kPreempted;
  };
  std::erase_if(waiting_, retired);
  // Preempted sequences go back to the front of the queue, oldest first
  // among them, ahead of requests never admitted.
  for (Sequence* s : admitted_) {
    if (!preempted(s)) continue;
    auto at = std::find_if(
        waiting_.begin(), waiting_.end(),
        [&](const Sequence* w) { return !preempted(w) || w->id > s->id; });
    waiting_.insert(at, s);
  }
  std::erase_if(admitted_,
                [&](const Sequence* s) { return retired(s) || preempted(s); });
  for (auto it = sequences_.begin(); it != sequences_.end();) {
    if (it->second->retired()) {
      sequences_.erase(it++);
    } else {
      ++it;
    }
  }
}

void EngineScheduler::PublishGauges() {
  if (!options_.step_metrics) return;
  int64_t external = 0;
  for (const Sequence* s : admitted_) {
    if (s->session != nullptr) external += s->session->external_state_bytes();
  }
  metrics_->active_sessions.Set(static_cast<double>(admitted_.size()));
  metrics_->waiting_requests.Set(static_cast<double>(waiting_.size()));
  const StateBudget budget = engine_->budget();
  metrics_->model_state_bytes.Set(static_cast<double>(budget.used_bytes));
  metrics_->external_state_bytes.Set(static_cast<double>(external));
  metrics_->state_blocks_used.Set(static_cast<double>(budget.used_blocks));
  metrics_->state_blocks_total.Set(static_cast<double>(budget.total_blocks));
}

}  // namespace trilemma
