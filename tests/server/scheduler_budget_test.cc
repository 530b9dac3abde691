// EngineScheduler under a spent state budget: the `preempt` policy (free the
// youngest session, re-queue it, recompute its context) against `reject`,
// cancellation of a preempted request, the Session idle timeout, the block
// gauges and the step-metrics switch. Most tests use ContextHashEngine, whose
// greedy output hashes its whole context read back from paged KV blocks, so
// a recompute that loses or repeats one token changes the tokens.
#include <memory>
#include <string>
#include <vector>

#include "engines/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "tests/server/context_hash_engine.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using testing::AppendTurn;
using testing::ContextHashEngine;
using testing::DirectFlops;
using testing::DirectGreedy;
using ::testing::ElementsAreArray;
using testing::GenerateTurn;
using ::testing::HasSubstr;
using testing::RecordingSink;
using Policy = SchedulerOptions::BudgetPolicy;

constexpr int64_t kBlock = ContextHashEngine::kBlockTokens;

std::vector<int32_t> Tokens(const std::vector<v1::TokenEvent>& events) {
  std::vector<int32_t> out;
  for (const v1::TokenEvent& e : events) out.push_back(e.token());
  return out;
}

class SchedulerBudgetTest : public ::testing::Test {
 protected:
  // Hosts a ContextHashEngine of `blocks` blocks.
  void Host(int64_t blocks, SchedulerOptions options) {
    Host(std::make_unique<ContextHashEngine>(blocks *
                                             ContextHashEngine::BlockBytes()),
         options);
  }
  void Host(std::unique_ptr<Engine> engine, SchedulerOptions options) {
    scheduler_.reset();  // before the engine it steps
    engine_ = std::move(engine);
    metrics_ = &server_metrics_->ForEngine(engine_->info());
    scheduler_ =
        std::make_unique<EngineScheduler>(engine_.get(), metrics_, options);
  }
  void TearDown() override {
    if (scheduler_) scheduler_->Stop();
  }
  const ContextHashEngine& hash_engine() const {
    return static_cast<const ContextHashEngine&>(*engine_);
  }
  int64_t PoolUsed() const { return engine_->pool().used_bytes(); }
  double Limit(LimitEvent l) { return metrics_->limit_events(l).Value(); }

  // Submits one Generate per prompt while every stream is paused, so all are
  // admitted and prefilled before any decodes; then lets them all run.
  std::vector<std::shared_ptr<RecordingSink>> RunTogether(
      const std::vector<std::vector<int32_t>>& prompts, int max_new) {
    std::vector<std::shared_ptr<RecordingSink>> sinks;
    for (const std::vector<int32_t>& prompt : prompts) {
      sinks.push_back(std::make_shared<RecordingSink>());
      sinks.back()->SetReady(false);
      scheduler_->SubmitGenerate({}, GenerateTurn(prompt, max_new),
                                 sinks.back());
    }
    int64_t prefilled = 0;
    for (const auto& p : prompts) prefilled += static_cast<int64_t>(p.size());
    // Everything but each prompt's last token is prefilled before decoding.
    EXPECT_TRUE(testing::PollUntil([&] {
      return metrics_->prompt_tokens.Value() >=
             static_cast<double>(prefilled - prompts.size());
    }));
    for (auto& sink : sinks) sink->SetReady(true);
    scheduler_->Wake();
    for (auto& sink : sinks) EXPECT_TRUE(sink->WaitFinished());
    return sinks;
  }

  std::unique_ptr<ServerMetrics> server_metrics_ =
      std::make_unique<ServerMetrics>();
  std::unique_ptr<Engine> engine_;
  EngineMetrics* metrics_ = nullptr;
  std::unique_ptr<EngineScheduler> scheduler_;
};

// Four streams that each end at 5 blocks share 12: the youngest give way.
const std::vector<std::vector<int32_t>> kPrompts = {{1, 2, 3, 4, 5, 6},
                                                    {7, 8, 9, 10, 11, 12},
                                                    {13, 14, 15, 16, 17, 18},
                                                    {19, 20, 21, 22, 23, 24}};
constexpr int kMaxNew = 14;  // context 6 + 13 = 19 tokens = 5 blocks

TEST_F(SchedulerBudgetTest, PreemptionAndRecomputeGiveTheUninterruptedTokens) {
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  Host(/*blocks=*/12, options);
  const ContextHashEngine reference(int64_t{1} << 20);

  const auto sinks = RunTogether(kPrompts, kMaxNew);
  int preemptions = 0;
  int64_t recomputed = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sinks[i]->status()->ok()) << *sinks[i]->status();
    const v1::Summary s = sinks[i]->summaries().at(0);
    EXPECT_EQ(s.finish_reason(), v1::LENGTH) << s.detail();
    const std::vector<int32_t> tokens = Tokens(sinks[i]->tokens());
    EXPECT_THAT(tokens, ElementsAreArray(
                            DirectGreedy(reference, kPrompts[i], kMaxNew)));
    std::vector<int32_t> consumed = kPrompts[i];
    consumed.insert(consumed.end(), tokens.begin(), tokens.end() - 1);
    EXPECT_EQ(s.context_tokens(), static_cast<int64_t>(consumed.size()));
    if (s.preemptions() == 0) {
      EXPECT_EQ(s.recomputed_tokens(), 0);
      EXPECT_EQ(s.total_flops(), DirectFlops(reference, consumed));
    } else {
      // The recompute is real work and is charged to the turn.
      EXPECT_GT(s.recomputed_tokens(), 0);
      EXPECT_GT(s.total_flops(), DirectFlops(reference, consumed));
    }
    preemptions += s.preemptions();
    recomputed += s.recomputed_tokens();
  }
  // The oldest is never preempted; someone had to be.
  EXPECT_EQ(sinks[0]->summaries().at(0).preemptions(), 0);
  EXPECT_GT(preemptions, 0);
  EXPECT_EQ(Limit(LimitEvent::kPreempted), preemptions);
  EXPECT_EQ(metrics_->recomputed_tokens.Value(), recomputed);
  EXPECT_EQ(Limit(LimitEvent::kBudget), 0);
  EXPECT_EQ(metrics_->requests(Outcome::kLength, Protocol::kGrpc).Value(), 4);
  EXPECT_LE(hash_engine().max_used_bytes(), engine_->pool().budget_bytes());
  EXPECT_GE(
      hash_engine().max_used_bytes(),
      engine_->pool().budget_bytes() - 2 * ContextHashEngine::BlockBytes());
  EXPECT_EQ(PoolUsed(), 0);
}

// Three streams that each end at 11 blocks share 12. A preempted stream is
// re-admitted only when it can finish its turn beside what older running
// turns still need, so each is preempted at most once and recomputes its
// context at most once. (Re-admitted with one block of headroom per running
// session, as before, the youngest was re-admitted beside a stream still
// growing and preempted again.)
TEST_F(SchedulerBudgetTest, APreemptedStreamIsNotReadmittedToBePreemptedAgain) {
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  Host(/*blocks=*/12, options);
  const ContextHashEngine reference(int64_t{1} << 20);
  const std::vector<std::vector<int32_t>> prompts = {{1, 2}, {3, 4}, {5, 6}};
  constexpr int kLongNew = 40;  // context 2 + 39 = 41 tokens = 11 blocks

  const auto sinks = RunTogether(prompts, kLongNew);
  int preemptions = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sinks[i]->status()->ok()) << *sinks[i]->status();
    const v1::Summary s = sinks[i]->summaries().at(0);
    EXPECT_EQ(s.finish_reason(), v1::LENGTH) << s.detail();
    EXPECT_THAT(
        Tokens(sinks[i]->tokens()),
        ElementsAreArray(DirectGreedy(reference, prompts[i], kLongNew)));
    EXPECT_LE(s.preemptions(), 1);
    EXPECT_LE(s.recomputed_tokens(), s.context_tokens());
    if (s.preemptions() > 0) {
      EXPECT_GT(s.recomputed_tokens(), 0);
    }
    preemptions += s.preemptions();
  }
  EXPECT_GE(preemptions, 1);
  EXPECT_LE(preemptions, 2);  // never the oldest
  EXPECT_EQ(Limit(LimitEvent::kPreempted), preemptions);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, RejectPolicyEndsTheTurnsTheBudgetCannotGrow) {
  SchedulerOptions options;
  options.budget_policy = Policy::kReject;
  Host(/*blocks=*/12, options);
  const ContextHashEngine reference(int64_t{1} << 20);

  const auto sinks = RunTogether(kPrompts, kMaxNew);
  int state_limited = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sinks[i]->status()->ok()) << *sinks[i]->status();
    const v1::Summary s = sinks[i]->summaries().at(0);
    EXPECT_EQ(s.preemptions(), 0);
    std::vector<int32_t> expected =
        DirectGreedy(reference, kPrompts[i], kMaxNew);
    if (s.finish_reason() == v1::STATE_LIMIT) {
      ++state_limited;
      EXPECT_THAT(s.detail(), HasSubstr("state budget of engine"));
      expected.resize(s.generated_tokens());  // a prefix, then refused
    } else {
      EXPECT_EQ(s.finish_reason(), v1::LENGTH);
    }
    EXPECT_THAT(Tokens(sinks[i]->tokens()), ElementsAreArray(expected));
  }
  EXPECT_GT(state_limited, 0);
  EXPECT_EQ(Limit(LimitEvent::kBudget), state_limited);
  EXPECT_EQ(Limit(LimitEvent::kPreempted), 0);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, PreemptionRecomputesARealAttentionEngineExactly) {
  // The small attention engine: 16-token blocks plus a fixed token-shift
  // state; three streams that each end at 2 blocks share 4.
  constexpr int64_t kFixed = 4 * 32;
  constexpr int64_t kAttnBlock = 16 * 2 * 32 * 4;
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  Host(CreateEngine(testing::SmallSpec("attention", "attention",
                                       3 * kFixed + 4 * kAttnBlock))
           .value(),
       options);
  const std::unique_ptr<Engine> reference =
      CreateEngine(testing::SmallSpec("attention", "attention")).value();
  const std::vector<std::vector<int32_t>> prompts = {
      {3, 1, 4, 1, 5, 9, 2, 6, 5, 3},
      {2, 7, 1, 8, 2, 8, 1, 8, 2, 8},
      {1, 4, 1, 4, 2, 1, 3, 5, 6, 2}};
  const auto sinks = RunTogether(prompts, 20);  // 29 tokens: 2 blocks
  int preemptions = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sinks[i]->status()->ok()) << *sinks[i]->status();
    const v1::Summary s = sinks[i]->summaries().at(0);
    EXPECT_EQ(s.finish_reason(), v1::LENGTH) << s.detail();
    EXPECT_THAT(Tokens(sinks[i]->tokens()),
                ElementsAreArray(DirectGreedy(*reference, prompts[i], 20)));
    preemptions += s.preemptions();
  }
  EXPECT_GT(preemptions, 0);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, AnIdleYoungerSessionIsPreemptedAndRecomputedLater) {
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  Host(/*blocks=*/8, options);
  const ContextHashEngine reference(int64_t{1} << 20);

  // The older Generate is admitted first and paused after its prefill.
  auto older = std::make_shared<RecordingSink>();
  older->SetReady(false);
  scheduler_->SubmitGenerate({}, GenerateTurn({9, 9, 9}, 24), older);
  ASSERT_TRUE(
      testing::PollUntil([&] { return metrics_->prompt_tokens.Value() >= 2; }));
  // A younger Session takes 5 blocks with an append, then idles.
  auto session = std::make_shared<RecordingSink>();
  const auto id = scheduler_->NewSessionId();
  scheduler_->OpenSession(id, {}, session);
  std::vector<int32_t> context;
  for (int i = 0; i < 5 * kBlock; ++i) context.push_back(i % 50 + 1);
  scheduler_->SubmitTurn(id, AppendTurn(context));
  ASSERT_TRUE(session->WaitSummaries(1));

  // The older stream needs 7 blocks: the idle session gives its 5 back.
  older->SetReady(true);
  scheduler_->Wake();
  ASSERT_TRUE(older->WaitFinished());
  EXPECT_EQ(older->summaries().at(0).finish_reason(), v1::LENGTH);
  EXPECT_THAT(Tokens(older->tokens()),
              ElementsAreArray(DirectGreedy(reference, {9, 9, 9}, 24)));
  EXPECT_GE(Limit(LimitEvent::kPreempted), 1);

  // Its next turn runs on the recomputed context.
  scheduler_->SubmitTurn(id, GenerateTurn({33}, 5));
  ASSERT_TRUE(session->WaitSummaries(2));
  std::vector<int32_t> full = context;
  full.push_back(33);
  EXPECT_THAT(Tokens(session->tokens()),
              ElementsAreArray(DirectGreedy(reference, full, 5)));
  EXPECT_EQ(session->summaries().at(1).context_tokens(),
            static_cast<int64_t>(full.size()) + 4);
  EXPECT_EQ(metrics_->recomputed_tokens.Value(), 5 * kBlock);
  scheduler_->CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(session->WaitFinished());
  EXPECT_TRUE(session->status()->ok());
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, TheYoungestPreemptsItselfAndCancellingItFrees) {
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  options.max_queue_wait = absl::Hours(1);
  Host(/*blocks=*/6, options);
  // An older Session holds 4 of 6 blocks and idles.
  auto holder = std::make_shared<RecordingSink>();
  const auto id = scheduler_->NewSessionId();
  scheduler_->OpenSession(id, {}, holder);
  scheduler_->SubmitTurn(id, AppendTurn(std::vector<int32_t>(4 * kBlock, 7)));
  ASSERT_TRUE(holder->WaitSummaries(1));

  // A younger Generate outgrows the rest and gives way to the holder: it
  // waits for re-admission, holding nothing.
  auto young = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2, 3}, 100), young);
  ASSERT_TRUE(
      testing::PollUntil([&] { return Limit(LimitEvent::kPreempted) >= 1; }));
  EXPECT_FALSE(young->status().has_value());
  EXPECT_EQ(PoolUsed(), 4 * ContextHashEngine::BlockBytes());

  young->SetCancelled();
  scheduler_->Wake();
  ASSERT_TRUE(young->WaitFinished());
  EXPECT_EQ(young->status()->code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(young->finish_calls(), 1);
  scheduler_->CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(holder->WaitFinished());
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, AloneWithTheBudgetATurnEndsWithStateLimit) {
  SchedulerOptions options;
  options.budget_policy = Policy::kPreempt;
  Host(/*blocks=*/3, options);
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2}, 100), sink);
  ASSERT_TRUE(sink->WaitFinished());
  const v1::Summary s = sink->summaries().at(0);
  EXPECT_EQ(s.finish_reason(), v1::STATE_LIMIT);
  EXPECT_EQ(s.context_tokens(), 3 * kBlock);
  EXPECT_THAT(s.detail(), HasSubstr("no other session holds state"));
  EXPECT_EQ(Limit(LimitEvent::kPreempted), 0);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, InputsBeyondTheWholeBudgetAreRefusedAtOnce) {
  SchedulerOptions options;
  options.max_queue_wait = absl::Hours(1);
  Host(/*blocks=*/4, options);
  // A Generate whose prompt alone needs 5 blocks can never fit.
  auto never = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate(
      {}, GenerateTurn(std::vector<int32_t>(5 * kBlock, 2), 1), never);
  ASSERT_TRUE(never->WaitFinished());
  EXPECT_EQ(never->status()->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(never->status()->message(),
              HasSubstr("more than the whole state budget"));
  EXPECT_TRUE(never->events().empty());
  EXPECT_EQ(metrics_->requests(Outcome::kInvalid, Protocol::kGrpc).Value(), 1);

  // In a Session the turn is refused and the session lives on.
  auto session = std::make_shared<RecordingSink>();
  const auto id = scheduler_->NewSessionId();
  scheduler_->OpenSession(id, {}, session);
  scheduler_->SubmitTurn(id,
                         AppendTurn(std::vector<int32_t>(4 * kBlock + 1, 3)));
  scheduler_->SubmitTurn(id, AppendTurn({1, 2, 3}));
  ASSERT_TRUE(session->WaitSummaries(2));
  EXPECT_EQ(session->summaries()[0].finish_reason(), v1::STATE_LIMIT);
  EXPECT_EQ(session->summaries()[0].prompt_tokens(), 0);
  EXPECT_EQ(session->summaries()[1].finish_reason(), v1::APPENDED);
  EXPECT_EQ(session->summaries()[1].context_tokens(), 3);
  scheduler_->CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(session->WaitFinished());
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, IdleSessionsAreClosedAndTheirStateFreed) {
  SchedulerOptions options;
  options.session_idle_timeout = absl::Milliseconds(300);
  Host(/*blocks=*/16, options);
  auto idle = std::make_shared<RecordingSink>();
  const auto id = scheduler_->NewSessionId();
  scheduler_->OpenSession(id, {}, idle);
  scheduler_->SubmitTurn(id, AppendTurn({1, 2, 3, 4, 5}));
  ASSERT_TRUE(idle->WaitSummaries(1));
  EXPECT_GT(PoolUsed(), 0);

  // A session whose turn is running (paused by backpressure) is not idle.
  auto busy = std::make_shared<RecordingSink>();
  busy->SetReady(false);
  const auto busy_id = scheduler_->NewSessionId();
  scheduler_->OpenSession(busy_id, {}, busy);
  scheduler_->SubmitTurn(busy_id, GenerateTurn({1, 2}, 3));

  // A probe session opened after the busy turn was submitted: once the
  // probe is closed for idling, the busy session has been turn-bound for
  // longer than the timeout too, so a scheduler that counted it as idle
  // would have closed it by then (the idle sweep visits every session on
  // the pass that closes the probe). An event to wait for, not a sleep.
  auto probe = std::make_shared<RecordingSink>();
  const auto probe_id = scheduler_->NewSessionId();
  scheduler_->OpenSession(probe_id, {}, probe);

  ASSERT_TRUE(idle->WaitFinished());
  EXPECT_EQ(idle->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(idle->status()->message(), HasSubstr("--session_idle_timeout"));
  ASSERT_TRUE(probe->WaitFinished());
  EXPECT_EQ(probe->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Limit(LimitEvent::kSessionIdle), 2);
  EXPECT_FALSE(busy->status().has_value());
  busy->SetReady(true);
  scheduler_->Wake();
  ASSERT_TRUE(busy->WaitSummaries(1));
  EXPECT_EQ(busy->summaries().at(0).finish_reason(), v1::LENGTH);
  // Idle again after its turn: closed in turn.
  ASSERT_TRUE(busy->WaitFinished());
  EXPECT_EQ(busy->status()->code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerBudgetTest, BlockGaugesAndTheStepMetricsSwitch) {
  for (const bool step_metrics : {true, false}) {
    SCOPED_TRACE(step_metrics);
    SchedulerOptions options;
    options.step_metrics = step_metrics;
    Host(/*blocks=*/10, options);
    auto holder = std::make_shared<RecordingSink>();
    const auto id = scheduler_->NewSessionId();
    scheduler_->OpenSession(id, {}, holder);
    scheduler_->SubmitTurn(id, GenerateTurn({1, 2, 3, 4, 5}, 4));
    ASSERT_TRUE(holder->WaitSummaries(1));
    ASSERT_TRUE(testing::PollUntil([&] {
      return !step_metrics || metrics_->state_blocks_used.Value() == 2;
    }));
    // Counted either way: per-request outcomes and prompt tokens.
    EXPECT_EQ(metrics_->requests(Outcome::kLength, Protocol::kGrpc).Value(), 1);
    EXPECT_EQ(metrics_->prompt_tokens.Value(), 5);
    // Per token and per step only when switched on.
    const double on = step_metrics ? 1 : 0;
    EXPECT_EQ(metrics_->generated_tokens.Value(), 4 * on);
    EXPECT_EQ(metrics_->state_blocks_total.Value(), 10 * on);
    EXPECT_EQ(metrics_->state_blocks_used.Value(), 2 * on);
    scheduler_->CloseSession(id, /*reply=*/true);
    ASSERT_TRUE(holder->WaitFinished());
    // Fresh metrics for the next round.
    scheduler_.reset();
    server_metrics_ = std::make_unique<ServerMetrics>();
  }
}

TEST(BudgetPolicyTest, ParsesTheFlagValues) {
  EXPECT_EQ(ParseBudgetPolicy("preempt").value(), Policy::kPreempt);
  EXPECT_EQ(ParseBudgetPolicy("reject").value(), Policy::kReject);
  EXPECT_EQ(BudgetPolicyName(Policy::kPreempt), "preempt");
  const auto bad = ParseBudgetPolicy("evict");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("budget_policy"));
}

}  // namespace
}  // namespace trilemma
