// EngineScheduler under overload: a burst within budget is admitted whole,
// the running and open-stream caps queue or refuse beyond them, the step's
// token budget keeps decode going beside a huge prefill (counted in engine
// calls, not wall time), deadlines drop or refuse requests before work is
// spent on them, and a Session `stop` ends the turn and keeps the state.
#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using testing::AppendTurn;
using testing::DirectGreedy;
using ::testing::ElementsAreArray;
using testing::GenerateTurn;
using ::testing::HasSubstr;
using testing::RecordingSink;
using testing::SmallSpec;

// Forwards to a real engine and logs every Prefill (its token count) and
// Step (its batch size) in call order, and every ReleaseScratch apart: the
// scheduler's steps, observable without a clock.
class CallLogEngine final : public Engine {
 public:
  struct Call {
    bool prefill = false;
    int64_t n = 0;  // prompt tokens (prefill) or batch size (step)
    std::thread::id thread;
  };
  struct Release {
    size_t after_calls = 0;  // Step/Prefill calls logged before it
    std::thread::id thread;
  };
  explicit CallLogEngine(std::unique_ptr<Engine> inner)
      : inner_(std::move(inner)) {}

  const v1::EngineInfo& info() const override { return inner_->info(); }
  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override {
    return inner_->NewSession();
  }
  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override {
    Log({.prefill = false,
         .n = static_cast<int64_t>(sessions.size()),
         .thread = {}});
    return inner_->Step(sessions, tokens, logits);
  }
  absl::Status Prefill(Session* session, absl::Span<const int32_t> tokens,
                       float* logits) const override {
    Log({.prefill = true,
         .n = static_cast<int64_t>(tokens.size()),
         .thread = {}});
    return inner_->Prefill(session, tokens, logits);
  }
  StepCost NextStepCost(const Session& session) const override {
    return inner_->NextStepCost(session);
  }
  const KvBlockPool& pool() const override { return inner_->pool(); }
  const TensorMap& weights() const override { return inner_->weights(); }
  void ReleaseScratch() const override {
    {
      absl::MutexLock lock(&mu_);
      releases_.push_back(
          {.after_calls = calls_.size(), .thread = std::this_thread::get_id()});
    }
    inner_->ReleaseScratch();
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<Release> releases() const {
    absl::MutexLock lock(&mu_);
    return releases_;
  }
  int64_t prefilled_tokens() const {
    int64_t n = 0;
    for (const Call& c : calls()) n += c.prefill ? c.n : 0;
    return n;
  }
  const Engine& inner() const { return *inner_; }

 private:
  void Log(Call call) const {
    call.thread = std::this_thread::get_id();
    absl::MutexLock lock(&mu_);
    calls_.push_back(call);
  }
  std::unique_ptr<Engine> inner_;
  mutable absl::Mutex mu_;
  mutable std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<Release> releases_ ABSL_GUARDED_BY(mu_);
};

class SchedulerOverloadTest : public ::testing::Test {
 protected:
  void Host(int64_t budget_bytes, SchedulerOptions options) {
    scheduler_.reset();
    engine_ = std::make_unique<CallLogEngine>(
        CreateEngine(SmallSpec("attention", "attention", budget_bytes))
            .value());
    metrics_ = &server_metrics_.ForEngine(engine_->info());
    scheduler_ =
        std::make_unique<EngineScheduler>(engine_.get(), metrics_, options);
  }
  void TearDown() override {
    if (scheduler_) scheduler_->Stop();
  }
  EngineScheduler::SequenceId Open(
      const std::shared_ptr<RecordingSink>& sink,
      absl::Time deadline = absl::InfiniteFuture()) {
    const EngineScheduler::SequenceId id = scheduler_->NewSessionId();
    scheduler_->OpenSession(id, {}, sink, absl::Now(), deadline);
    return id;
  }
  static std::vector<int32_t> Tokens(const std::vector<v1::TokenEvent>& in) {
    std::vector<int32_t> out;
    for (const v1::TokenEvent& e : in) out.push_back(e.token());
    return out;
  }
  int64_t PoolUsed() const { return engine_->pool().used_bytes(); }

  ServerMetrics server_metrics_;
  std::unique_ptr<CallLogEngine> engine_;
  EngineMetrics* metrics_ = nullptr;
  std::unique_ptr<EngineScheduler> scheduler_;
};

TEST_F(SchedulerOverloadTest, ABurstWithinBudgetIsAdmittedWhole) {
  // The wait queue is tiny, the budget is not: 300 requests submitted at
  // once all fit, so none may be refused (the queue bounds only what is
  // left after admission).
  SchedulerOptions options;
  options.max_waiting = 4;
  options.max_running = 512;
  Host(int64_t{64} << 20, options);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 300; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    scheduler_->SubmitGenerate({}, GenerateTurn({1 + i % 200, 7, 9}, 4),
                               sinks.back());
  }
  int ok = 0;
  for (const auto& sink : sinks) {
    ASSERT_TRUE(sink->WaitFinished());
    ok += sink->status()->ok() ? 1 : 0;
  }
  EXPECT_EQ(ok, 300);
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kQueueFull).Value(), 0);
  EXPECT_EQ(metrics_->requests(Outcome::kRejected, Protocol::kGrpc).Value(), 0);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerOverloadTest, AnIdleLoopReleasesTheEngineScratchOnceAfterWork) {
  Host(int64_t{64} << 20, {});
  // Idle before any work (the loop wakes every second): nothing to release.
  absl::SleepFor(absl::Milliseconds(1200));
  EXPECT_TRUE(engine_->releases().empty());

  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 7, 9}, 4), sink);
  ASSERT_TRUE(sink->WaitFinished());
  ASSERT_TRUE(sink->status()->ok());
  ASSERT_TRUE(testing::PollUntil([&] { return !engine_->releases().empty(); }));
  const std::vector<CallLogEngine::Release> releases = engine_->releases();
  const std::vector<CallLogEngine::Call> calls = engine_->calls();
  ASSERT_EQ(releases.size(), 1u);
  ASSERT_FALSE(calls.empty());
  // After the turn's last engine call, on the thread that made it (the
  // scratch is per thread).
  EXPECT_EQ(releases[0].after_calls, calls.size());
  EXPECT_EQ(releases[0].thread, calls.back().thread);

  // Still idle with no new work: no second release (once per idle period).
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_EQ(engine_->releases().size(), 1u);

  // Work after a release grows the scratch again and gives the same tokens.
  auto again = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 7, 9}, 4), again);
  ASSERT_TRUE(again->WaitFinished());
  ASSERT_TRUE(again->status()->ok());
  const std::vector<int32_t> expected =
      DirectGreedy(engine_->inner(), {1, 7, 9}, 4);
  EXPECT_THAT(Tokens(sink->tokens()), ElementsAreArray(expected));
  EXPECT_THAT(Tokens(again->tokens()), ElementsAreArray(expected));
}

TEST_F(SchedulerOverloadTest, RunningCapQueuesAndOnlyTheQueueBeyondIsRefused) {
  SchedulerOptions options;
  options.max_running = 8;
  options.max_waiting = 4;
  options.max_queue_wait = absl::Hours(1);
  Host(int64_t{64} << 20, options);
  // Paused streams: admitted ones hold their place until resumed.
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 20; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    sinks.back()->SetReady(false);
    scheduler_->SubmitGenerate({}, GenerateTurn({3, 5}, 2), sinks.back());
  }
  // 8 run, 4 wait, the 8 newest are refused naming the cap.
  ASSERT_TRUE(testing::PollUntil([&] {
    int finished = 0;
    for (const auto& s : sinks) finished += s->status().has_value() ? 1 : 0;
    return finished == 8;
  }));
  for (int i = 12; i < 20; ++i) {
    ASSERT_TRUE(sinks[i]->status().has_value()) << i;
    EXPECT_EQ(sinks[i]->status()->code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(sinks[i]->status()->message(), HasSubstr("--max_waiting"));
    EXPECT_THAT(sinks[i]->status()->message(), HasSubstr("--max_running"));
  }
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kQueueFull).Value(), 8);
  for (int i = 0; i < 12; ++i) sinks[i]->SetReady(true);
  scheduler_->Wake();
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(sinks[i]->WaitFinished());
    EXPECT_TRUE(sinks[i]->status()->ok()) << i << ": " << *sinks[i]->status();
  }
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerOverloadTest, TheOpenStreamCapIsSharedByEveryEngine) {
  SchedulerOptions options;
  options.max_open_streams = 3;
  Host(int64_t{64} << 20, options);
  // A second engine sharing the options (and so the counter).
  std::unique_ptr<Engine> other_engine =
      CreateEngine(SmallSpec("mamba", "mamba")).value();
  EngineScheduler other(other_engine.get(),
                        &server_metrics_.ForEngine(other_engine->info()),
                        options);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  auto c = std::make_shared<RecordingSink>();
  const auto id_a = Open(a);
  Open(b);
  const auto id_c = other.NewSessionId();
  other.OpenSession(id_c, {}, c);
  ASSERT_TRUE(a->WaitEvents(1));
  ASSERT_TRUE(c->WaitEvents(1));
  auto refused = std::make_shared<RecordingSink>();
  other.SubmitGenerate({}, GenerateTurn({1}, 1), refused);
  ASSERT_TRUE(refused->WaitFinished());
  EXPECT_EQ(refused->status()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused->status()->message(), HasSubstr("--max_open_streams"));
  // Closing one frees its place.
  scheduler_->CloseSession(id_a, /*reply=*/true);
  ASSERT_TRUE(a->WaitFinished());
  auto admitted = std::make_shared<RecordingSink>();
  other.SubmitGenerate({}, GenerateTurn({1}, 1), admitted);
  ASSERT_TRUE(admitted->WaitFinished());
  EXPECT_TRUE(admitted->status()->ok()) << *admitted->status();
  other.Stop();
}

TEST_F(SchedulerOverloadTest, DecodeTokensPerStepAreUnaffectedByAHugePrefill) {
  // Token budget only (no time share), so the schedule is exact.
  SchedulerOptions options;
  options.max_step_tokens = 64;
  options.prefill_chunk_tokens = 256;
  options.max_prefill_tokens_per_step = 1024;
  options.prefill_time_share = 0;
  Host(int64_t{64} << 20, options);
  constexpr int kShort = 3;
  constexpr int kShortTokens = 32;
  // One-token prompts, paused until the huge prompt is prefilling.
  std::vector<std::shared_ptr<RecordingSink>> shorts;
  for (int i = 0; i < kShort; ++i) {
    shorts.push_back(std::make_shared<RecordingSink>());
    shorts.back()->SetReady(false);
    scheduler_->SubmitGenerate({}, GenerateTurn({11 + i}, kShortTokens),
                               shorts.back());
  }
  std::vector<int32_t> prompt(4096);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 31) % 256;
  auto huge = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn(prompt, 2), huge);
  ASSERT_TRUE(
      testing::PollUntil([&] { return engine_->prefilled_tokens() > 0; }));
  for (const auto& s : shorts) s->SetReady(true);
  scheduler_->Wake();
  for (const auto& s : shorts) ASSERT_TRUE(s->WaitFinished());
  ASSERT_TRUE(huge->WaitFinished());
  ASSERT_TRUE(huge->status()->ok());
  EXPECT_THAT(Tokens(huge->tokens()),
              ElementsAreArray(DirectGreedy(engine_->inner(), prompt, 2)));
  // The huge prompt was still prefilling when the short streams finished.
  const std::vector<CallLogEngine::Call> calls = engine_->calls();
  // Counted in steps: the short streams got one token per step each, so
  // their 3 x 32 tokens took 32 steps (+1 if they resumed in different
  // iterations); between two steps, prefill took at most what the step
  // budget left after that step's decode tokens.
  int64_t short_tokens = 0;
  int steps = 0;
  int prefill_gaps = 0;
  int64_t prefill_since_step = 0;
  for (const CallLogEngine::Call& c : calls) {
    if (short_tokens >= kShort * kShortTokens) break;
    if (c.prefill) {
      prefill_since_step += c.n;
      continue;
    }
    ++steps;
    short_tokens += c.n;
    // (The first step may follow a prefill planned before they resumed.)
    if (steps > 1) {
      EXPECT_LE(prefill_since_step + c.n, options.max_step_tokens)
          << "step " << steps;
    }
    prefill_gaps += prefill_since_step > 0 ? 1 : 0;
    prefill_since_step = 0;
  }
  EXPECT_EQ(short_tokens, kShort * kShortTokens);
  EXPECT_LE(steps, kShortTokens + 1);
  EXPECT_GE(prefill_gaps, kShortTokens - 1);  // the prompt kept progressing
  for (const auto& s : shorts) {
    EXPECT_EQ(s->tokens().size(), static_cast<size_t>(kShortTokens));
  }
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerOverloadTest, AnExpiredDeadlineIsDroppedBeforePrefill) {
  SchedulerOptions options;
  options.max_running = 1;
  options.max_queue_wait = absl::Hours(1);
  Host(int64_t{64} << 20, options);
  auto holder = std::make_shared<RecordingSink>();
  const auto holder_id = Open(holder);
  ASSERT_TRUE(holder->WaitEvents(1));

  // Waits behind the running cap; its deadline passes first.
  auto waiting = std::make_shared<RecordingSink>();
  std::vector<int32_t> prompt(100, 4);
  scheduler_->SubmitGenerate({}, GenerateTurn(prompt, 4), waiting, absl::Now(),
                             absl::Now() + absl::Milliseconds(50));
  // Already past on arrival.
  auto late = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn(prompt, 4), late, absl::Now(),
                             absl::Now() - absl::Seconds(1));
  ASSERT_TRUE(waiting->WaitFinished());
  ASSERT_TRUE(late->WaitFinished());
  EXPECT_EQ(waiting->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(waiting->events().empty());
  EXPECT_EQ(engine_->prefilled_tokens(), 0);  // no work was spent on them

  // A running request ends at its deadline, its state freed.
  scheduler_->CloseSession(holder_id, /*reply=*/true);
  ASSERT_TRUE(holder->WaitFinished());
  auto running = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2}, 65536), running,
                             absl::Now(),
                             absl::Now() + absl::Milliseconds(200));
  ASSERT_TRUE(running->WaitFinished());
  EXPECT_EQ(running->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(running->tokens().size(), 65536u);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerOverloadTest,
       ARequestThatCannotStartBeforeItsDeadlineIsRefused) {
  SchedulerOptions options;
  options.max_running = 1;
  options.max_queue_wait = absl::Hours(1);
  Host(int64_t{64} << 20, options);
  auto holder = std::make_shared<RecordingSink>();
  const auto holder_id = Open(holder);
  ASSERT_TRUE(holder->WaitEvents(1));
  // A session that waits ~300 ms for the running slot teaches the scheduler
  // what a wait costs now.
  auto first = std::make_shared<RecordingSink>();
  Open(first);
  absl::SleepFor(absl::Milliseconds(300));
  scheduler_->CloseSession(holder_id, /*reply=*/true);
  ASSERT_TRUE(first->WaitEvents(1));
  ASSERT_TRUE(first->events().at(0).has_opened());
  // The slot is held again; one waits without a deadline...
  auto queued = std::make_shared<RecordingSink>();
  Open(queued);
  ASSERT_TRUE(testing::PollUntil(
      [&] { return metrics_->waiting_requests.Value() == 1; }));
  // ...so one with 20 ms left cannot start in time: refused at once.
  auto hurried = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), hurried, absl::Now(),
                             absl::Now() + absl::Milliseconds(20));
  ASSERT_TRUE(hurried->WaitFinished());
  EXPECT_EQ(hurried->status()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(hurried->status()->message(), HasSubstr("deadline"));
  EXPECT_FALSE(queued->status().has_value());
}

TEST_F(SchedulerOverloadTest, StopEndsTheTurnAndKeepsTheSessionState) {
  Host(int64_t{64} << 20, {});
  auto sink = std::make_shared<RecordingSink>();
  const auto id = Open(sink);
  const std::vector<int32_t> prompt = {10, 20, 30, 40};
  scheduler_->SubmitTurn(id, AppendTurn(prompt));
  scheduler_->SubmitTurn(id, GenerateTurn({50}, 65536));
  ASSERT_TRUE(sink->WaitEvents(1 + 1 + 4));  // opened, appended, 4 tokens
  scheduler_->StopTurns(id);
  ASSERT_TRUE(sink->WaitSummaries(2));
  const v1::Summary stopped = sink->summaries().at(1);
  EXPECT_EQ(stopped.finish_reason(), v1::CANCELLED);
  EXPECT_THAT(stopped.detail(), HasSubstr("stopped"));
  const std::vector<int32_t> generated = Tokens(sink->tokens());
  ASSERT_GE(generated.size(), 4u);
  EXPECT_LT(generated.size(), 65536u);
  EXPECT_EQ(stopped.generated_tokens(), static_cast<int64_t>(generated.size()));
  // prompt + query + generated, the last generated one still pending.
  EXPECT_EQ(stopped.context_tokens(),
            static_cast<int64_t>(prompt.size() + generated.size()));
  EXPECT_FALSE(sink->status().has_value());  // the stream goes on
  EXPECT_GT(PoolUsed(), 0);                  // with its state

  // The next turn continues exactly from the kept state.
  scheduler_->SubmitTurn(id, GenerateTurn({}, 3));
  ASSERT_TRUE(sink->WaitSummaries(3));
  EXPECT_EQ(sink->summaries().at(2).finish_reason(), v1::LENGTH);
  std::vector<int32_t> context = prompt;
  context.push_back(50);
  context.insert(context.end(), generated.begin(), generated.end() - 1);
  const std::vector<int32_t> all = Tokens(sink->tokens());
  const std::vector<int32_t> next(all.end() - 3, all.end());
  std::vector<int32_t> expected =
      DirectGreedy(engine_->inner(), context, 4);  // last pending + 3 new
  EXPECT_THAT(next, ElementsAreArray(expected.begin() + 1, expected.end()));

  // Turns queued behind a stopped one end CANCELLED too, one reply each.
  scheduler_->SubmitTurn(id, GenerateTurn({7}, 65536));
  scheduler_->SubmitTurn(id, AppendTurn({8, 9}));
  ASSERT_TRUE(sink->WaitEvents(static_cast<int>(sink->events().size()) + 1));
  scheduler_->StopTurns(id);
  ASSERT_TRUE(sink->WaitSummaries(5));
  EXPECT_EQ(sink->summaries().at(3).finish_reason(), v1::CANCELLED);
  EXPECT_EQ(sink->summaries().at(4).finish_reason(), v1::CANCELLED);
  EXPECT_EQ(sink->summaries().at(4).prompt_tokens(), 0);
  scheduler_->CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_TRUE(sink->status()->ok());
  EXPECT_EQ(PoolUsed(), 0);
}

TEST(SchedulerExternalBudgetTest, TheExternalTierIsBudgetedLikeTheModelTier) {
  // memory_exact at d 32 stores 256 bytes per entry (key + value) beyond
  // its window, in a capacity that starts at 256 entries and doubles.
  ServerMetrics metrics;
  std::unique_ptr<Engine> engine =
      CreateEngine(SmallSpec("memory_exact", "memory", int64_t{64} << 20,
                             {{"index", "exact"}, {"window", "4"}}))
          .value();
  ASSERT_EQ(engine->info().external_bytes_per_token(), 256);
  SchedulerOptions options;
  options.external_budget_bytes = 200 * 1024;
  options.budget_policy = SchedulerOptions::BudgetPolicy::kReject;
  EngineScheduler scheduler(engine.get(), &metrics.ForEngine(engine->info()),
                            options);
  auto sink = std::make_shared<RecordingSink>();
  const auto id = scheduler.NewSessionId();
  scheduler.OpenSession(id, {}, sink);
  // 60 entries: capacity 256 (64 KiB); +200: 64 KiB + 50 KiB fits, capacity
  // 512 (128 KiB); +300: past 512 entries the capacity doubles to 256 KiB,
  // over 200 KiB, and the turn ends there.
  scheduler.SubmitTurn(id, AppendTurn(std::vector<int32_t>(64, 5)));
  scheduler.SubmitTurn(id, AppendTurn(std::vector<int32_t>(200, 6)));
  scheduler.SubmitTurn(id, AppendTurn(std::vector<int32_t>(300, 7)));
  ASSERT_TRUE(sink->WaitSummaries(3));
  const std::vector<v1::Summary> s = sink->summaries();
  EXPECT_EQ(s[0].finish_reason(), v1::APPENDED);
  EXPECT_EQ(s[1].finish_reason(), v1::APPENDED);
  EXPECT_EQ(s[1].external_state_bytes(), 512 * 256);
  EXPECT_EQ(s[2].finish_reason(), v1::STATE_LIMIT);
  EXPECT_THAT(s[2].detail(), HasSubstr("--external_budget_bytes"));
  EXPECT_THAT(s[2].detail(), HasSubstr("'memory_exact'"));
  EXPECT_LT(s[2].prompt_tokens(), 300);
  EXPECT_LE(s[2].prompt_tokens(), 512 - 260);  // stopped at the doubling
  scheduler.CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_TRUE(sink->status()->ok());
  scheduler.Stop();
}

}  // namespace
}  // namespace trilemma
