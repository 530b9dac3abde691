// EngineScheduler's admission: dropping cancelled and expired requests,
// admitting waiting ones while the budget and caps allow, and bounding the
// queue beyond them (docs/overload.md).
#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engines/state/kv_block_pool.h"
#include "server/scheduler.h"

namespace trilemma {

bool EngineScheduler::ReapCancelled(absl::Time now) {
  bool changed = false;
  for (auto& [id, seq] : sequences_) {
    Sequence* s = seq.get();
    if (s->retired) continue;
    const bool expired = now >= s->deadline;
    if (!expired && !s->sink->Cancelled()) continue;
    changed = true;
    const absl::Status cancelled =
        expired ? absl::DeadlineExceededError(
                      s->opened ? "the request's deadline passed; its work "
                                  "stopped and its state was freed"
                                : "the request's deadline passed while it "
                                  "waited for admission")
                : absl::CancelledError("client cancelled or deadline passed");
    if (s->turn) {
      FinishTurn(s, v1::CANCELLED, absl::StrCat(cancelled.message()));
      if (!s->retired) Retire(s, cancelled);
    } else if (s->session == nullptr) {
      Fail(s, cancelled);  // waiting for (re-)admission
    } else {
      Retire(s, cancelled);  // an idle Session stream
    }
  }
  return changed;
}

bool EngineScheduler::AdmitWaiting(absl::Time now) {
  bool changed = false;
  while (!waiting_.empty()) {
    Sequence* s = waiting_.front();
    if (s->retired) {
      waiting_.pop_front();
      continue;
    }
    if (static_cast<int64_t>(admitted_.size()) >= options_.max_running) {
      last_admission_error_ =
          absl::StrCat("engine '", engine_->info().name(), "' already runs ",
                       admitted_.size(), " sequences (--max_running)");
      break;
    }
    absl::StatusOr<std::unique_ptr<Session>> session = engine_->NewSession();
    if (session.ok()) {
      // A new session's fixed external allocations count too.
      if (absl::Status room = CheckExternal((*session)->external_state_bytes());
          !room.ok()) {
        session = std::move(room);
      }
    }
    if (session.ok() && s->preempted) {
      // Re-admit only when the whole context to recompute fits with a block
      // of headroom left per running session, so the sessions it gave way
      // to can grow a while before it is preempted again (no thrashing).
      // (Alone with the budget it held this context before, so it fits.)
      absl::Status room = (*session)->Reserve(s->context_tokens());
      const KvBlockPool& pool = engine_->pool();
      const int64_t headroom =
          static_cast<int64_t>(admitted_.size()) * pool.block_bytes();
      if (room.ok() && pool.budget_bytes() - pool.used_bytes() < headroom) {
        room = absl::ResourceExhaustedError(
            absl::StrCat("state budget of engine '", engine_->info().name(),
                         "' (", pool.budget_bytes(),
                         " bytes) has no headroom to re-admit a "
                         "preempted session beside ",
                         admitted_.size(), " running"));
      }
      if (!room.ok()) session = std::move(room);
    }
    if (!session.ok() && absl::IsResourceExhausted(session.status()) &&
        !admitted_.empty()) {
      // Wait for a running session to give state back.
      last_admission_error_ = absl::StrCat(session.status().message());
      break;
    }
    waiting_.pop_front();
    changed = true;
    if (!session.ok()) {
      absl::Status status = session.status();
      if (absl::IsResourceExhausted(status)) {
        // Nothing else holds state: the budget itself is too small.
        status = absl::FailedPreconditionError(absl::StrCat(
            status.message(),
            "; no session holds state, so this request can never be "
            "admitted"));
      }
      Fail(s, status);
      continue;
    }
    s->session = *std::move(session);
    s->NotePeak();
    admitted_.push_back(s);
    if (s->preempted) {
      s->preempted = false;  // recomputes from replayed == 0 (Preempt)
      continue;
    }
    s->admission_seconds = absl::ToDoubleSeconds(now - s->submitted);
    metrics_->queue_duration_seconds.Observe(s->admission_seconds);
    if (s->had_to_wait) {
      // It waited at least one iteration: its wait predicts the next ones'
      // (an estimate older than kQueuedWaitMemory is not used).
      const bool fresh = now - queued_wait_updated_ < kQueuedWaitMemory;
      queued_wait_seconds_ =
          fresh ? 0.8 * queued_wait_seconds_ + 0.2 * s->admission_seconds
                : s->admission_seconds;
      queued_wait_updated_ = now;
    }
    s->opened = true;
    s->idle_since = now;
    if (s->persistent) {
      v1::SessionEvent opened;
      *opened.mutable_opened()->mutable_engine() = PublicEngineInfo(*engine_);
      opened.mutable_opened()->set_state_bytes(s->session->state_bytes());
      s->sink->Push(std::move(opened));
    }
  }
  for (Sequence* s : waiting_) s->had_to_wait = true;
  // Those still waiting time out, naming the budget they wait for.
  for (Sequence* s : waiting_) {
    if (s->retired || now - s->waiting_since < options_.max_queue_wait) {
      continue;
    }
    metrics_->limit_events(LimitEvent::kQueueTimeout).Increment();
    Fail(s,
         absl::ResourceExhaustedError(absl::StrFormat(
             "%s; waited %.3f s for %s (--max_queue_wait)",
             last_admission_error_,
             absl::ToDoubleSeconds(now - s->waiting_since),
             s->preempted ? "re-admission after a preemption" : "admission")));
    changed = true;
  }
  return changed;
}

bool EngineScheduler::BoundWaiting() {
  int64_t fresh = 0;  // never admitted; re-queued preempted ones finish
  for (const Sequence* s : waiting_) {
    fresh += s->retired || s->preempted ? 0 : 1;
  }
  bool changed = false;
  for (auto it = waiting_.rbegin();
       it != waiting_.rend() && fresh > options_.max_waiting; ++it) {
    Sequence* s = *it;
    if (s->retired || s->preempted) continue;
    metrics_->limit_events(LimitEvent::kQueueFull).Increment();
    Fail(s, absl::ResourceExhaustedError(absl::StrCat(
                "admission queue of engine '", engine_->info().name(),
                "' is full: ", options_.max_waiting,
                " requests already wait (--max_waiting) for ",
                last_admission_error_.empty() ? "admission"
                                              : last_admission_error_)));
    --fresh;
    changed = true;
  }
  return changed;
}

}  // namespace trilemma
