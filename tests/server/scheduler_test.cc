// EngineScheduler with real small engines: admission, batching, chunked
// prefill, limits and finish reasons, budget exhaustion and the admission
// queue, cancellation, and agreement with stepping the engine directly.
#include "server/scheduler.h"

#include <memory>
#include <numeric>
#include <vector>

#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using testing::AppendTurn;
using testing::DirectFlops;
using testing::DirectGreedy;
using ::testing::ElementsAreArray;
using testing::GenerateTurn;
using ::testing::HasSubstr;
using testing::RecordingSink;
using testing::SmallSpec;

// Per-token KV bytes of the small attention engine (depth 1, d 32) and its
// fixed token-shift state; blocks hold 16 tokens.
constexpr int64_t kFixedBytes = 4 * 32;
constexpr int64_t kBlockBytes = 16 * 2 * 32 * 4;

class SchedulerTest : public ::testing::Test {
 protected:
  void Host(const EngineSpec& spec, SchedulerOptions options = {}) {
    scheduler_.reset();  // before the engine it steps
    engine_ = CreateEngine(spec).value();
    metrics_ = &server_metrics_.ForEngine(engine_->info());
    scheduler_ =
        std::make_unique<EngineScheduler>(engine_.get(), metrics_, options);
  }
  void TearDown() override {
    if (scheduler_) scheduler_->Stop();
  }

  std::vector<int32_t> Tokens(const std::vector<v1::TokenEvent>& events) {
    std::vector<int32_t> out;
    for (const v1::TokenEvent& e : events) out.push_back(e.token());
    return out;
  }
  EngineScheduler::SequenceId Open(std::shared_ptr<RecordingSink> sink) {
    const EngineScheduler::SequenceId id = scheduler_->NewSessionId();
    scheduler_->OpenSession(id, {}, std::move(sink));
    return id;
  }
  int64_t PoolUsed() const { return engine_->pool().used_bytes(); }

  ServerMetrics server_metrics_;
  std::unique_ptr<Engine> engine_;
  EngineMetrics* metrics_ = nullptr;
  std::unique_ptr<EngineScheduler> scheduler_;
};

TEST_F(SchedulerTest, GenerateStreamsTokensThenOneSummary) {
  Host(SmallSpec("attention", "attention"));
  auto sink = std::make_shared<RecordingSink>();
  const std::vector<int32_t> prompt = {5, 17, 42, 7};
  scheduler_->SubmitGenerate({}, GenerateTurn(prompt, 6), sink);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_TRUE(sink->status()->ok()) << *sink->status();

  const std::vector<v1::SessionEvent> events = sink->events();
  ASSERT_EQ(events.size(), 7u);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(events[i].has_token()) << i;
    EXPECT_EQ(events[i].token().index(), i);
    EXPECT_EQ(events[i].token().stats().context_tokens(), 4 + i);
    EXPECT_GT(events[i].token().stats().flops(), 0);
    EXPECT_GT(events[i].token().stats().state_bytes(), 0);
    EXPECT_EQ(events[i].token().stats().batch_size(), 1);
  }
  ASSERT_TRUE(events[6].has_summary());
  const v1::Summary& summary = events[6].summary();
  EXPECT_EQ(summary.finish_reason(), v1::LENGTH);
  EXPECT_EQ(summary.prompt_tokens(), 4);
  EXPECT_EQ(summary.generated_tokens(), 6);
  EXPECT_EQ(summary.context_tokens(), 9);  // the last token stays pending
  EXPECT_FALSE(summary.recall().probed());

  // Greedy output and analytic FLOPs equal stepping the engine directly
  // over the consumed tokens (prefill included).
  const std::vector<int32_t> tokens = Tokens(sink->tokens());
  EXPECT_THAT(tokens, ElementsAreArray(DirectGreedy(*engine_, prompt, 6)));
  std::vector<int32_t> consumed = prompt;
  consumed.insert(consumed.end(), tokens.begin(), tokens.end() - 1);
  EXPECT_EQ(summary.total_flops(), DirectFlops(*engine_, consumed));
  EXPECT_EQ(metrics_->generated_tokens.Value(), 6);
  EXPECT_EQ(metrics_->prompt_tokens.Value(), 4);
  EXPECT_EQ(metrics_->requests(Outcome::kLength, Protocol::kGrpc).Value(), 1);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, ChunkedPrefillMatchesDirectAndInterleavesDecode) {
  SchedulerOptions options;
  options.prefill_chunk_tokens = 16;
  options.max_prefill_tokens_per_step = 16;
  Host(SmallSpec("attention", "attention"), options);

  // A stream that keeps decoding while a long prompt prefills beside it.
  auto running = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2, 3}, 1000), running);
  ASSERT_TRUE(running->WaitEvents(1));

  std::vector<int32_t> prompt(320);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 37) % 256;
  auto sink = std::make_shared<RecordingSink>();
  const size_t running_before = running->tokens().size();
  scheduler_->SubmitGenerate({}, GenerateTurn(prompt, 3), sink);
  ASSERT_TRUE(sink->WaitFinished());
  const v1::Summary summary = sink->summaries().at(0);
  const std::vector<int32_t> tokens = Tokens(sink->tokens());
  EXPECT_THAT(tokens, ElementsAreArray(DirectGreedy(*engine_, prompt, 3)));
  std::vector<int32_t> consumed = prompt;
  consumed.insert(consumed.end(), tokens.begin(), tokens.end() - 1);
  EXPECT_EQ(summary.total_flops(), DirectFlops(*engine_, consumed));
  EXPECT_EQ(summary.prompt_tokens(), 320);
  // 319 prompt tokens at 16 per iteration take 20 iterations, each with one
  // decode step of the running stream.
  EXPECT_GE(running->tokens().size(), running_before + 19);
  running->SetCancelled();
  scheduler_->Wake();
  ASSERT_TRUE(running->WaitFinished());
}

TEST_F(SchedulerTest, DecodingSessionsShareOneBatchedStep) {
  Host(SmallSpec("attention", "attention"));
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 4; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    sink->SetReady(false);  // admitted and prefilled, held before decoding
    scheduler_->SubmitGenerate({}, GenerateTurn({i + 1, 9, 10 + i}, 5), sink);
    sinks.push_back(sink);
  }
  ASSERT_TRUE(testing::PollUntil([&] {
    return metrics_->prompt_tokens.Value() == 4 * 2;  // all prefilled
  }));
  for (auto& sink : sinks) sink->SetReady(true);
  scheduler_->Wake();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(sinks[i]->WaitFinished());
    const std::vector<v1::TokenEvent> tokens = sinks[i]->tokens();
    ASSERT_EQ(tokens.size(), 5u);
    for (const v1::TokenEvent& t : tokens) EXPECT_EQ(t.stats().batch_size(), 4);
    // Batching does not change any session's output.
    EXPECT_THAT(Tokens(tokens), ElementsAreArray(DirectGreedy(
                                    *engine_, {i + 1, 9, 10 + i}, 5)));
  }
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, SamplingWithASeedIsDeterministic) {
  Host(SmallSpec("attention", "attention", int64_t{64} << 20,
                 {{"init", "random"}}));
  auto run = [&](uint64_t seed) {
    TurnRequest turn = GenerateTurn({3, 4, 5}, 24);
    turn.sampling.set_temperature(5.0f);
    turn.sampling.set_top_k(50);
    turn.sampling.set_seed(seed);
    auto sink = std::make_shared<RecordingSink>();
    scheduler_->SubmitGenerate({}, turn, sink);
    EXPECT_TRUE(sink->WaitFinished());
    return Tokens(sink->tokens());
  };
  const std::vector<int32_t> a = run(7);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a, run(7));
  EXPECT_NE(a, run(8));
  EXPECT_NE(a, DirectGreedy(*engine_, {3, 4, 5}, 24));
}

TEST_F(SchedulerTest, ContextLimitEndsTheTurn) {
  Host(SmallSpec("attention", "attention"));
  v1::Limits limits;
  limits.set_max_context_tokens(6);
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate(limits, GenerateTurn({1, 2, 3, 4}, 10), sink);
  ASSERT_TRUE(sink->WaitFinished());
  const v1::Summary s = sink->summaries().at(0);
  EXPECT_EQ(s.finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_EQ(s.generated_tokens(), 3);  // consumed: 4 prompt + 2 generated
  EXPECT_EQ(s.context_tokens(), 6);
  EXPECT_THAT(s.detail(), HasSubstr("max_context_tokens"));
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kContext).Value(), 1);

  // A prompt over the limit consumes nothing.
  auto over = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate(limits, GenerateTurn({1, 2, 3, 4, 5, 6, 7}, 1),
                             over);
  ASSERT_TRUE(over->WaitFinished());
  EXPECT_EQ(over->summaries().at(0).finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_EQ(over->summaries().at(0).prompt_tokens(), 0);
  EXPECT_EQ(over->summaries().at(0).generated_tokens(), 0);
  EXPECT_TRUE(over->status()->ok());
}

TEST_F(SchedulerTest, StateLimitEndsTheTurnBeforeTheStateGrowsPastIt) {
  Host(SmallSpec("attention", "attention"));
  v1::Limits limits;
  limits.set_max_state_bytes(kFixedBytes + kBlockBytes);  // one KV block
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate(limits, GenerateTurn({1, 2, 3, 4}, 100), sink);
  ASSERT_TRUE(sink->WaitFinished());
  const v1::Summary s = sink->summaries().at(0);
  EXPECT_EQ(s.finish_reason(), v1::STATE_LIMIT);
  EXPECT_EQ(s.context_tokens(), 16);  // a full block, not one token more
  EXPECT_EQ(s.generated_tokens(), 13);
  EXPECT_LE(s.peak_state_bytes(), kFixedBytes + kBlockBytes);
  EXPECT_THAT(s.detail(), HasSubstr("max_state_bytes"));
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kState).Value(), 1);
  EXPECT_EQ(metrics_->requests(Outcome::kStateLimit, Protocol::kGrpc).Value(),
            1);
}

TEST_F(SchedulerTest, ExhaustedBudgetEndsARunningTurnWithStateLimit) {
  Host(SmallSpec("attention", "attention", kFixedBytes + 2 * kBlockBytes));
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2, 3}, 100), sink);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_TRUE(sink->status()->ok());
  const v1::Summary s = sink->summaries().at(0);
  EXPECT_EQ(s.finish_reason(), v1::STATE_LIMIT);
  EXPECT_EQ(s.context_tokens(), 32);
  EXPECT_THAT(s.detail(), HasSubstr("state budget of engine 'attention'"));
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kBudget).Value(), 1);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, FullBudgetQueuesNewRequestsThenRefusesOrAdmitsThem) {
  SchedulerOptions options;
  options.max_queue_wait = absl::Milliseconds(50);
  options.max_waiting = 1;
  Host(SmallSpec("attention", "attention", kFixedBytes + kBlockBytes), options);
  // A session that holds the whole budget.
  auto holder = std::make_shared<RecordingSink>();
  const auto id = Open(holder);
  std::vector<int32_t> block(16, 3);
  scheduler_->SubmitTurn(id, AppendTurn(block));
  ASSERT_TRUE(holder->WaitSummaries(1));
  EXPECT_EQ(holder->summaries().at(0).finish_reason(), v1::APPENDED);
  EXPECT_EQ(PoolUsed(), kFixedBytes + kBlockBytes);

  // Waits, then RESOURCE_EXHAUSTED naming the budget.
  auto waiter = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), waiter);
  ASSERT_TRUE(waiter->WaitFinished());
  EXPECT_EQ(waiter->status()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(waiter->status()->message(),
              HasSubstr("state budget of engine 'attention'"));
  EXPECT_THAT(waiter->status()->message(), HasSubstr("--max_queue_wait"));
  EXPECT_TRUE(waiter->events().empty());
  EXPECT_EQ(metrics_->limit_events(LimitEvent::kQueueTimeout).Value(), 1);

  // With the queue full, refused at once.
  Host(SmallSpec("attention", "attention", kFixedBytes + kBlockBytes), [] {
    SchedulerOptions o;
    o.max_waiting = 1;
    o.max_queue_wait = absl::Hours(1);
    return o;
  }());
  holder = std::make_shared<RecordingSink>();
  const auto id2 = Open(holder);
  scheduler_->SubmitTurn(id2, AppendTurn(block));
  ASSERT_TRUE(holder->WaitSummaries(1));
  auto queued = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2}, 2), queued);
  auto refused = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), refused);
  ASSERT_TRUE(refused->WaitFinished());
  EXPECT_EQ(refused->status()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused->status()->message(), HasSubstr("--max_waiting"));
  EXPECT_FALSE(queued->status().has_value());

  // Closing the holder admits the queued request.
  scheduler_->CloseSession(id2, /*reply=*/true);
  ASSERT_TRUE(holder->WaitFinished());
  EXPECT_TRUE(holder->status()->ok());
  EXPECT_TRUE(holder->events().back().has_closed());
  ASSERT_TRUE(queued->WaitFinished());
  EXPECT_TRUE(queued->status()->ok());
  EXPECT_EQ(queued->summaries().at(0).finish_reason(), v1::LENGTH);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, RequestThatCanNeverFitIsRefusedAtOnce) {
  Host(SmallSpec("attention", "attention", kFixedBytes / 2));
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), sink);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_EQ(sink->status()->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(sink->status()->message(), HasSubstr("never"));
}

TEST_F(SchedulerTest, CancellationFreesTheStateWithinAStep) {
  Host(SmallSpec("attention", "attention"));
  auto sink = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2, 3, 4, 5}, 65536), sink);
  ASSERT_TRUE(sink->WaitEvents(3));
  EXPECT_GT(PoolUsed(), 0);
  sink->SetCancelled();
  scheduler_->Wake();
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_EQ(sink->status()->code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(PoolUsed(), 0);  // freed before the stream was finished
  EXPECT_EQ(sink->finish_calls(), 1);
  EXPECT_EQ(metrics_->requests(Outcome::kCancelled, Protocol::kGrpc).Value(),
            1);

  // A paused (backpressured) stream is cancelled just the same.
  auto paused = std::make_shared<RecordingSink>();
  paused->SetReady(false);
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2, 3}, 10), paused);
  ASSERT_TRUE(testing::PollUntil([&] { return PoolUsed() > 0; }));
  paused->SetCancelled();
  scheduler_->Wake();
  ASSERT_TRUE(paused->WaitFinished());
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, SessionStatePersistsAcrossTurns) {
  Host(SmallSpec("attention", "attention"));
  auto sink = std::make_shared<RecordingSink>();
  const auto id = Open(sink);
  ASSERT_TRUE(sink->WaitEvents(1));
  ASSERT_TRUE(sink->events().at(0).has_opened());
  EXPECT_EQ(sink->events().at(0).opened().engine().name(), "attention");

  scheduler_->SubmitTurn(id, AppendTurn({10, 20, 30}));
  scheduler_->SubmitTurn(id, GenerateTurn({40}, 3));
  scheduler_->SubmitTurn(id,
                         GenerateTurn({}, 2));  // continues from the pending
  scheduler_->SubmitTurn(id, AppendTurn({50}));
  ASSERT_TRUE(sink->WaitSummaries(4));
  const std::vector<v1::Summary> s = sink->summaries();
  EXPECT_EQ(s[0].finish_reason(), v1::APPENDED);
  EXPECT_EQ(s[0].context_tokens(), 3);
  EXPECT_EQ(s[1].finish_reason(), v1::LENGTH);
  EXPECT_EQ(s[1].prompt_tokens(), 1);
  EXPECT_EQ(s[1].context_tokens(), 6);  // 3 + query + 2 generated consumed
  EXPECT_EQ(s[2].prompt_tokens(), 0);
  EXPECT_EQ(s[2].context_tokens(), 8);
  EXPECT_EQ(s[3].finish_reason(), v1::APPENDED);
  EXPECT_EQ(s[3].context_tokens(), 10);  // pending + appended

  // The generated tokens are exactly one greedy continuation.
  const std::vector<int32_t> tokens = Tokens(sink->tokens());
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_THAT(tokens,
              ElementsAreArray(DirectGreedy(*engine_, {10, 20, 30, 40}, 5)));

  scheduler_->CloseSession(id, /*reply=*/true);
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_TRUE(sink->status()->ok());
  ASSERT_TRUE(sink->events().back().has_closed());
  EXPECT_EQ(sink->events().back().closed().context_tokens(), 10);
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, GenerateWithNothingToContinueFromIsInvalid) {
  Host(SmallSpec("attention", "attention"));
  auto sink = std::make_shared<RecordingSink>();
  const auto id = Open(sink);
  scheduler_->SubmitTurn(id, GenerateTurn({}, 1));
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_EQ(sink->status()->code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sink->status()->message(), HasSubstr("generate.prompt"));
  EXPECT_EQ(PoolUsed(), 0);
}

TEST_F(SchedulerTest, RecallProbesAreScoredAndCounted) {
  Host(SmallSpec("attention", "attention"));
  // MQAR: keys from the lower half of the vocabulary, values from the upper.
  const std::vector<int32_t> keys = {3, 17, 29, 44, 58, 71, 90, 101};
  const std::vector<int32_t> values = {140, 151, 166, 180, 199, 210, 231, 250};
  std::vector<int32_t> facts;
  for (size_t i = 0; i < keys.size(); ++i) {
    facts.push_back(keys[i]);
    facts.push_back(values[i]);
  }
  auto sink = std::make_shared<RecordingSink>();
  const auto id = Open(sink);
  scheduler_->SubmitTurn(id, AppendTurn(facts));
  for (size_t i = 0; i < keys.size(); ++i) {
    TurnRequest query = GenerateTurn({keys[i]}, 1);
    query.probe.emplace();
    query.probe->add_expected(values[i]);
    query.probe->set_distance(static_cast<int64_t>(2 * (keys.size() - i)));
    scheduler_->SubmitTurn(id, query);
  }
  // A probe that must miss: the answer to an unknown key is not this value.
  TurnRequest wrong = GenerateTurn({keys[0]}, 1);
  wrong.probe.emplace();
  wrong.probe->add_expected(values[1]);
  scheduler_->SubmitTurn(id, wrong);
  ASSERT_TRUE(sink->WaitSummaries(static_cast<int>(keys.size()) + 2));
  const std::vector<v1::Summary> s = sink->summaries();
  int hits = 0;
  for (size_t i = 1; i <= keys.size(); ++i) {
    EXPECT_TRUE(s[i].recall().probed());
    EXPECT_EQ(s[i].recall().expected_tokens(), 1);
    EXPECT_EQ(s[i].recall().distance(), static_cast<int64_t>(2 * (9 - i)));
    EXPECT_GT(s[i].recall().context_tokens(), 16);
    hits += s[i].recall().hit();
  }
  EXPECT_GE(hits, 7);  // full attention recalls (nearly) every fact
  EXPECT_FALSE(s.back().recall().hit());
  EXPECT_EQ(metrics_->recall_hits.Value(), hits);
  EXPECT_EQ(metrics_->recall_misses.Value(),
            static_cast<double>(keys.size()) + 1 - hits);
  scheduler_->CloseSession(id, /*reply=*/false);
}

TEST_F(SchedulerTest, StopCutsRunningTurnsWithShutdown) {
  Host(SmallSpec("attention", "attention"));
  auto generate = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1, 2}, 65536), generate);
  auto session = std::make_shared<RecordingSink>();
  Open(session);
  ASSERT_TRUE(generate->WaitEvents(2));
  ASSERT_TRUE(session->WaitEvents(1));
  scheduler_->Stop();
  ASSERT_TRUE(generate->status().has_value());
  EXPECT_TRUE(generate->status()->ok());
  EXPECT_EQ(generate->summaries().at(0).finish_reason(), v1::SHUTDOWN);
  EXPECT_EQ(session->status()->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(PoolUsed(), 0);

  // Later requests are refused, not lost.
  auto late = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), late);
  ASSERT_TRUE(late->status().has_value());
  EXPECT_EQ(late->status()->code(), absl::StatusCode::kUnavailable);
}

TEST_F(SchedulerTest, DrainRefusesNewWorkAndClosesIdleSessions) {
  Host(SmallSpec("attention", "attention"));
  auto idle = std::make_shared<RecordingSink>();
  Open(idle);
  ASSERT_TRUE(idle->WaitEvents(1));
  scheduler_->BeginDrain();
  ASSERT_TRUE(idle->WaitFinished());
  EXPECT_EQ(idle->status()->code(), absl::StatusCode::kUnavailable);
  auto late = std::make_shared<RecordingSink>();
  scheduler_->SubmitGenerate({}, GenerateTurn({1}, 1), late);
  ASSERT_TRUE(late->WaitFinished());
  EXPECT_EQ(late->status()->code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(testing::PollUntil([&] { return scheduler_->Idle(); }));
}

}  // namespace
}  // namespace trilemma
