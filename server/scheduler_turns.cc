// EngineScheduler's turn logic: starting a turn (limits over its inputs),
// chunked prefill, the batched decode step, sampling and finishing a turn
// with its summary. The loop and lifecycle are in scheduler.cc, admission
// in scheduler_admission.cc.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/scheduler.h"

namespace trilemma {
namespace {

// Prompt tokens of a session's first chunk while streams decode, before its
// rate is known.
constexpr int64_t kFirstChunkUnderDecode = 16;

Outcome OutcomeOfReason(v1::FinishReason reason) {
  switch (reason) {
    case v1::STATE_LIMIT:
      return Outcome::kStateLimit;
    case v1::CONTEXT_LIMIT:
      return Outcome::kContextLimit;
    case v1::CANCELLED:
      return Outcome::kCancelled;
    case v1::SHUTDOWN:
      return Outcome::kShutdown;
    case v1::APPENDED:
      return Outcome::kAppended;
    default:
      return Outcome::kLength;
  }
}

}  // namespace

bool EngineScheduler::StartTurns(absl::Time now) {
  bool changed = false;
  for (Sequence* s : admitted_) {
    if (s->state() != SequenceState::kIdle || s->queued_turns.empty()) {
      continue;
    }
    auto [request, accepted] = std::move(s->queued_turns.front());
    s->queued_turns.pop_front();
    BeginTurn(s, std::move(request), accepted, now);
    changed = true;
  }
  return changed;
}

void EngineScheduler::BeginTurn(Sequence* s, TurnRequest request,
                                absl::Time accepted, absl::Time now) {
  s->turn.emplace(std::move(request), accepted);
  ActiveTurn& t = *s->turn;
  t.queue_seconds = s->persistent ? absl::ToDoubleSeconds(now - accepted)
                                  : s->admission_seconds;
  t.peak_state_bytes = s->total_state_bytes();
  if (s->pending_token) {
    t.inputs.push_back(*s->pending_token);
    t.prompt_offset = 1;
  }
  t.inputs.insert(t.inputs.end(), t.request.tokens.begin(),
                  t.request.tokens.end());
  if (t.inputs.empty()) {
    // Only a generate may be empty; with nothing to continue from it has no
    // logits to sample from.
    s->turn.reset();
    Fail(s, absl::InvalidArgumentError(
                "generate.prompt: empty, and the session has no earlier "
                "generated token to continue from"));
    return;
  }

  // Limits over the turn's inputs: refuse before consuming anything (the
  // pending token stays pending).
  const int64_t n = static_cast<int64_t>(t.inputs.size());
  const Session& session = *s->session;
  if (EndTurnAtRequestLimit(s, n)) return;
  // Inputs that need more than the whole budget can never be served: no
  // waiting or preemption would help.
  const int64_t model_after = session.state_bytes_after(n);
  const int64_t budget = engine_->budget().budget_bytes;
  if (model_after > budget) {
    metrics_->limit_events(LimitEvent::kBudget).Increment();
    std::string why = absl::StrCat(
        n, " input tokens need ", model_after,
        " bytes of state, more than the whole state budget of engine '",
        engine_->info().name(), "' (", budget, " bytes)");
    if (s->persistent) {
      FinishTurn(s, v1::STATE_LIMIT, std::move(why));  // the session lives on
    } else {
      s->turn.reset();
      Fail(s, absl::FailedPreconditionError(
                  absl::StrCat(why, "; this request can never fit")));
    }
    return;
  }
  s->pending_token.reset();
  if (t.prefill_end() == 0) {
    t.decoding = true;
    t.next_token = t.inputs[0];
    s->SetState(SequenceState::kDecoding);
  } else {
    s->SetState(SequenceState::kPrefilling);
  }
}

int64_t EngineScheduler::CountDecodeReady() {
  int64_t ready = 0;
  for (Sequence* s : admitted_) {
    if (ready >= options_.max_batch_size) break;
    if (s->state() != SequenceState::kDecoding || !s->sink->Ready()) continue;
    ++ready;
  }
  return ready;
}

bool EngineScheduler::PrefillChunks(int64_t budget, double time_budget) {
  bool changed = false;
  bool prefilled_any = false;
  const size_t count = admitted_.size();
  for (size_t k = 0; k < count && budget > 0; ++k) {
    Sequence* s = admitted_[(prefill_cursor_ + k) % count];
    if (s->state() == SequenceState::kRecomputing) {
      // A re-admitted session catches up before its turn goes on.
      budget -= RecomputeChunk(s, budget);
      changed = true;
      continue;
    }
    if (s->state() != SequenceState::kPrefilling) continue;
    ActiveTurn& t = *s->turn;
    const int64_t end = static_cast<int64_t>(t.prefill_end());
    int64_t n = std::min<int64_t>(
        {end - t.inputs_consumed, options_.prefill_chunk_tokens, budget});
    if (std::isfinite(time_budget)) {
      // Take what fits the time left at this session's measured rate (a
      // small first chunk measures it), at least one token per iteration so
      // the prompt still progresses.
      if (time_budget <= 0 && prefilled_any) break;
      // A chunk at most doubles the last one, so one fast measurement does
      // not buy a long chunk.
      const int64_t fits =
          s->prefill_seconds_per_token > 0
              ? std::min<int64_t>(
                    static_cast<int64_t>(time_budget /
                                         s->prefill_seconds_per_token),
                    2 * s->last_prefill_chunk)
              : kFirstChunkUnderDecode;
      n = std::min<int64_t>(n, std::max<int64_t>(1, fits));
    }
    if (n <= 0) continue;
    changed = true;
    if (!ReserveOrPreempt(s, n)) continue;
    Session* session = s->session.get();
    const int64_t first = engine_->NextStepCost(*session).flops;
    const absl::Span<const int32_t> chunk(t.inputs.data() + t.inputs_consumed,
                                          static_cast<size_t>(n));
    const absl::Time chunk_start = absl::Now();
    if (absl::Status r = engine_->Prefill(session, chunk, nullptr); !r.ok()) {
      Fail(s, r);
      continue;
    }
    const double chunk_seconds =
        absl::ToDoubleSeconds(absl::Now() - chunk_start);
    const double per_token = chunk_seconds / static_cast<double>(n);
    s->prefill_seconds_per_token =
        s->prefill_seconds_per_token > 0
            ? 0.7 * s->prefill_seconds_per_token + 0.3 * per_token
            : per_token;
    s->last_prefill_chunk = n;
    time_budget -= chunk_seconds;
    prefilled_any = true;
    s->RecordConsumed(chunk);
    const int64_t after = engine_->NextStepCost(*session).flops;
    const int64_t flops = PrefillFlops(n, first, after);
    const int64_t prompt_before = t.prompt_tokens_consumed();
    t.inputs_consumed += n;
    t.flops += flops;
    budget -= n;
    metrics_->flops.Increment(static_cast<double>(flops));
    metrics_->prompt_tokens.Increment(
        static_cast<double>(t.prompt_tokens_consumed() - prompt_before));
    s->NotePeak();
    if (t.inputs_consumed == end) {
      if (t.generating()) {
        t.decoding = true;
        t.next_token = t.inputs[end];
        s->SetState(SequenceState::kDecoding);
      } else {
        FinishTurn(s, v1::APPENDED, "");
      }
    }
  }
  if (count > 0) prefill_cursor_ = (prefill_cursor_ + 1) % count;
  return changed;
}

bool EngineScheduler::DecodeStep() {
  bool changed = false;
  std::vector<Sequence*> batch;
  std::vector<int32_t> tokens;
  std::vector<StepCost> costs;
  const size_t count = admitted_.size();
  for (size_t k = 0; k < count; ++k) {
    if (static_cast<int>(batch.size()) >= options_.max_batch_size) break;
    Sequence* s = admitted_[(decode_cursor_ + k) % count];
    if (s->state() != SequenceState::kDecoding || !s->sink->Ready()) continue;
    Session* session = s->session.get();
    if (EndTurnAtRequestLimit(s, 1) || !ReserveOrPreempt(s, 1)) {
      changed = true;
      continue;
    }
    costs.push_back(engine_->NextStepCost(*session));
    batch.push_back(s);
    tokens.push_back(s->turn->next_token);
  }
  if (count > 0) decode_cursor_ = (decode_cursor_ + 1) % count;
  // Sessions preempted to make room for later ones leave the batch.
  size_t kept = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i]->state() != SequenceState::kDecoding) continue;
    batch[kept] = batch[i];
    tokens[kept] = tokens[i];
    costs[kept] = costs[i];
    ++kept;
  }
  changed |= kept < batch.size();
  batch.resize(kept);
  tokens.resize(kept);
  costs.resize(kept);
  if (batch.empty()) return changed;

  std::vector<Session*> sessions;
  sessions.reserve(batch.size());
  for (Sequence* s : batch) sessions.push_back(s->session.get());
  logits_.resize(batch.size() * static_cast<size_t>(vocab_));
  const absl::Time start = absl::Now();
  const absl::Status stepped = engine_->Step(sessions, tokens, logits_.data());
  const absl::Time end = absl::Now();
  if (!stepped.ok()) {
    for (Sequence* s : batch) Fail(s, stepped);
    return true;
  }
  const double seconds = absl::ToDoubleSeconds(end - start);
  decode_step_seconds_ = decode_step_seconds_ == 0
                             ? seconds
                             : 0.8 * decode_step_seconds_ + 0.2 * seconds;
  if (options_.step_metrics) {
    metrics_->step_duration_seconds.Observe(seconds);
    metrics_->step_batch_size.Observe(static_cast<double>(batch.size()));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Sequence* s = batch[i];
    s->RecordConsumed({tokens[i]});
    const absl::Span<const float> logits(logits_.data() + i * vocab_,
                                         static_cast<size_t>(vocab_));
    const int32_t token = s->turn->sampler.Sample(logits);
    const int32_t greedy = s->turn->sampler.greedy() ? token : Argmax(logits);
    v1::StepStats stats;
    stats.set_step_seconds(seconds);
    stats.set_flops(costs[i].flops);
    stats.set_state_bytes(s->session->state_bytes());
    stats.set_external_state_bytes(s->session->external_state_bytes());
    stats.set_context_tokens(s->session->context_tokens());
    stats.set_batch_size(static_cast<int32_t>(batch.size()));
    EmitToken(s, token, greedy, std::move(stats), end);
  }
  return true;
}

void EngineScheduler::EmitToken(Sequence* s, int32_t token,
                                int32_t greedy_token, v1::StepStats stats,
                                absl::Time now) {
  ActiveTurn& t = *s->turn;
  if (t.generated == 0) {
    // This step consumed the turn's last input.
    ++t.inputs_consumed;
    if (t.prompt_offset == 0 || t.inputs.size() > 1) {
      metrics_->prompt_tokens.Increment();
    }
  }
  const int32_t index = t.generated++;
  t.flops += stats.flops();
  s->NotePeak();
  if (options_.step_metrics) {
    metrics_->generated_tokens.Increment();
    metrics_->flops.Increment(static_cast<double>(stats.flops()));
    metrics_->token_flops.Observe(static_cast<double>(stats.flops()));
    metrics_->session_state_bytes.Observe(static_cast<double>(
        stats.state_bytes() + stats.external_state_bytes()));
    metrics_->context_tokens.Observe(
        static_cast<double>(stats.context_tokens()));
    if (t.first_token_at) {
      metrics_->inter_token_latency_seconds.Observe(
          absl::ToDoubleSeconds(now - t.last_token_at));
    }
  }
  if (!t.first_token_at) {
    t.first_token_at = now;
    metrics_->time_to_first_token_seconds.Observe(
        absl::ToDoubleSeconds(now - t.accepted));
  }
  t.last_token_at = now;
  if (t.request.probe && index < t.request.probe->expected_size()) {
    if (index == 0) t.recall_context_tokens = stats.context_tokens();
    if (greedy_token == t.request.probe->expected(index)) ++t.matched;
  }

  v1::SessionEvent event;
  v1::TokenEvent* e = event.mutable_token();
  e->set_token(token);
  e->set_index(index);
  *e->mutable_stats() = std::move(stats);
  s->sink->Push(std::move(event));

  t.next_token = token;
  if (t.generated >= t.request.max_new_tokens) FinishTurn(s, v1::LENGTH, "");
}

bool EngineScheduler::EndTurnAtRequestLimit(Sequence* s, int64_t n) {
  std::optional<LimitBreach> breach = CheckRequestLimits(*s, n);
  if (!breach) return false;
  metrics_
      ->limit_events(breach->reason == v1::CONTEXT_LIMIT ? LimitEvent::kContext
                                                         : LimitEvent::kState)
      .Increment();
  FinishTurn(s, breach->reason, std::move(breach->detail));
  return true;
}

bool EngineScheduler::ReserveOrPreempt(Sequence* s, int64_t n) {
  const int64_t external_growth =
      n * engine_->info().external_bytes_per_token();
  for (;;) {
    absl::Status r = CheckExternal(external_growth);
    if (r.ok()) r = s->session->Reserve(n);
    // The estimate misses a store's capacity doubling: check what is held.
    if (r.ok() && external_growth > 0) r = CheckExternal(0);
    if (r.ok()) return true;
    if (!absl::IsResourceExhausted(r)) {
      Fail(s, r);
      return false;
    }
    if (!HandleBudgetExhausted(s, r)) return false;
  }
}

bool EngineScheduler::HandleBudgetExhausted(Sequence* s,
                                            const absl::Status& status) {
  std::string detail(status.message());
  if (options_.budget_policy == SchedulerOptions::BudgetPolicy::kPreempt) {
    // The youngest holder gives its state back: the oldest always progresses.
    Sequence* youngest = nullptr;
    int holders = 0;
    for (Sequence* a : admitted_) {
      if (a->session == nullptr) continue;  // retired or preempted
      ++holders;
      if (youngest == nullptr || a->id > youngest->id) youngest = a;
    }
    if (holders > 1) {
      Preempt(youngest);
      return youngest != s;
    }
    absl::StrAppend(&detail, "; no other session holds state to preempt");
  }
  metrics_->limit_events(LimitEvent::kBudget).Increment();
  if (s->turn && s->state() != SequenceState::kRecomputing) {
    // The turn ends; a Session keeps what it holds.
    FinishTurn(s, v1::STATE_LIMIT, std::move(detail));
  } else {
    // Without a consistent state to keep (a recompute cut short) the stream
    // ends.
    Fail(s, absl::ResourceExhaustedError(detail));
  }
  return false;
}

void EngineScheduler::Preempt(Sequence* s) {
  metrics_->limit_events(LimitEvent::kPreempted).Increment();
  if (s->turn) ++s->turn->preemptions;
  s->session.reset();  // its blocks go back to the pool now
  s->replayed = 0;
  s->SetState(SequenceState::kPreempted);
  s->waiting_since = absl::Now();
}

int64_t EngineScheduler::RecomputeChunk(Sequence* s, int64_t budget) {
  const int64_t n = std::min<int64_t>({s->context_tokens() - s->replayed,
                                       options_.prefill_chunk_tokens, budget});
  if (n <= 0 || !ReserveOrPreempt(s, n)) return 0;
  Session* session = s->session.get();
  const int64_t first = engine_->NextStepCost(*session).flops;
  const absl::Span<const int32_t> chunk(s->history.data() + s->replayed,
                                        static_cast<size_t>(n));
  if (absl::Status r = engine_->Prefill(session, chunk, nullptr); !r.ok()) {
    Fail(s, r);
    return n;
  }
  s->replayed += n;
  if (!s->recomputing()) s->SetState(s->ResumeState());  // caught up
  const int64_t flops =
      PrefillFlops(n, first, engine_->NextStepCost(*session).flops);
  if (s->turn) {
    s->turn->flops += flops;
    s->turn->recomputed_tokens += n;
  }
  metrics_->flops.Increment(static_cast<double>(flops));
  metrics_->recomputed_tokens.Increment(static_cast<double>(n));
  s->NotePeak();
  return n;
}

void EngineScheduler::FinishTurn(Sequence* s, v1::FinishReason reason,
                                 std::string detail) {
  ActiveTurn& t = *s->turn;
  const absl::Time now = absl::Now();
  // A turn stopped while decoding leaves its next input unconsumed: it joins
  // the context at the start of the next turn, like a generated token.
  if (t.decoding) {
    s->pending_token = t.next_token;
  } else if (t.inputs_consumed == 0 && t.prompt_offset == 1) {
    s->pending_token = t.inputs[0];  // refused before consuming anything
  }
  const std::string detail_copy = detail;
  v1::Summary summary = BuildSummary(*s, reason, std::move(detail), now);
  metrics_->requests(OutcomeOfReason(reason), s->sink->protocol()).Increment();
  metrics_->request_duration_seconds.Observe(summary.total_seconds());
  if (t.request.probe && reason != v1::CANCELLED && reason != v1::SHUTDOWN) {
    const double context = static_cast<double>(t.recall_context_tokens);
    if (summary.recall().hit()) {
      metrics_->recall_hits.Increment();
      metrics_->recall_hit_context_tokens.Observe(context);
    } else {
      metrics_->recall_misses.Increment();
      metrics_->recall_miss_context_tokens.Observe(context);
    }
  }
  s->turn.reset();
  if (s->state() == SequenceState::kPrefilling ||
      s->state() == SequenceState::kDecoding) {
    s->SetState(SequenceState::kIdle);
  }
  s->idle_since = now;
  v1::SessionEvent event;
  *event.mutable_summary() = std::move(summary);
  s->sink->Push(std::move(event));
  if (!s->persistent) {
    absl::Status status = absl::OkStatus();
    if (reason == v1::CANCELLED) {
      status = now >= s->deadline ? absl::DeadlineExceededError(detail_copy)
                                  : absl::CancelledError(detail_copy);
    }
    Retire(s, std::move(status));
  }
}

}  // namespace trilemma
