// EngineScheduler under randomized load against a small budget, with both
// budget policies: Generate calls and multi-turn Session streams of random
// sizes arrive together, some are cancelled. Whatever happens, every stream
// ends exactly once, greedy tokens equal an uninterrupted run (a prefix of it
// when the turn was refused), the pool never holds more than the budget, and
// nothing is left held at the end.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "tests/server/context_hash_engine.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using testing::ContextHashEngine;
using testing::DirectGreedy;
using ::testing::ElementsAreArray;
using testing::RecordingSink;
using Policy = SchedulerOptions::BudgetPolicy;

struct Stream {
  bool persistent = false;
  bool cancel = false;
  EngineScheduler::SequenceId id = 0;
  std::vector<TurnRequest> turns;
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
};

std::vector<int32_t> RandomTokens(std::mt19937& rng, int n) {
  std::uniform_int_distribution<int32_t> token(0,
                                               ContextHashEngine::kVocab - 1);
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = token(rng);
  return out;
}

TurnRequest RandomTurn(std::mt19937& rng, bool allow_append) {
  TurnRequest turn;
  const bool append =
      allow_append && std::uniform_int_distribution<int>(0, 2)(rng) == 0;
  turn.kind =
      append ? TurnRequest::Kind::kAppend : TurnRequest::Kind::kGenerate;
  turn.tokens = RandomTokens(
      rng, std::uniform_int_distribution<int>(append ? 1 : 0, 20)(rng));
  turn.max_new_tokens = std::uniform_int_distribution<int>(1, 30)(rng);
  if (!append && turn.tokens.empty()) turn.tokens.push_back(1);
  return turn;
}

// What the stream's turns must produce on an unlimited engine: the expected
// tokens of each turn (empty for appends) and the finish reasons allowed.
// Follows a Session's semantics: a generate's last token stays pending and
// is consumed first by the next turn.
std::vector<std::vector<int32_t>> ExpectedTokens(
    const Engine& reference, const std::vector<TurnRequest>& turns) {
  std::vector<int32_t> context;
  std::vector<int32_t> pending;  // zero or one token
  std::vector<std::vector<int32_t>> out;
  for (const TurnRequest& turn : turns) {
    context.insert(context.end(), pending.begin(), pending.end());
    pending.clear();
    context.insert(context.end(), turn.tokens.begin(), turn.tokens.end());
    if (turn.kind == TurnRequest::Kind::kAppend) {
      out.emplace_back();
      continue;
    }
    std::vector<int32_t> tokens =
        DirectGreedy(reference, context, turn.max_new_tokens);
    context.insert(context.end(), tokens.begin(), tokens.end() - 1);
    pending = {tokens.back()};
    out.push_back(std::move(tokens));
  }
  return out;
}

// What one run saw, so the tests can check the load did reach the budget.
struct LoadOutcome {
  int preemptions = 0;
  int refused_turns = 0;
};

LoadOutcome RunRandomLoad(uint32_t seed, Policy policy) {
  LoadOutcome outcome;
  SCOPED_TRACE(::testing::Message()
               << "seed " << seed << " policy " << BudgetPolicyName(policy));
  std::mt19937 rng(seed);
  const int64_t blocks = std::uniform_int_distribution<int64_t>(6, 24)(rng);
  const int64_t budget = blocks * ContextHashEngine::BlockBytes();
  ContextHashEngine engine(budget);
  const ContextHashEngine reference(int64_t{1} << 24);
  ServerMetrics server_metrics;
  EngineMetrics* metrics = &server_metrics.ForEngine(engine.info());
  SchedulerOptions options;
  options.budget_policy = policy;
  options.max_batch_size = 8;
  options.prefill_chunk_tokens = 8;
  options.max_queue_wait = absl::Hours(1);  // no timeouts: a request waits
  EngineScheduler scheduler(&engine, metrics, options);

  std::vector<Stream> streams(16);
  for (Stream& s : streams) {
    s.persistent = std::uniform_int_distribution<int>(0, 2)(rng) == 0;
    s.cancel = std::uniform_int_distribution<int>(0, 5)(rng) == 0;
    const int turns =
        s.persistent ? std::uniform_int_distribution<int>(1, 3)(rng) : 1;
    for (int t = 0; t < turns; ++t) {
      s.turns.push_back(RandomTurn(rng, /*allow_append=*/s.persistent));
    }
  }
  for (Stream& s : streams) {
    if (s.persistent) {
      s.id = scheduler.NewSessionId();
      scheduler.OpenSession(s.id, {}, s.sink);
      for (const TurnRequest& turn : s.turns) scheduler.SubmitTurn(s.id, turn);
    } else {
      scheduler.SubmitGenerate({}, s.turns[0], s.sink);
    }
  }
  for (Stream& s : streams) {
    if (s.cancel) s.sink->SetCancelled();
  }
  scheduler.Wake();
  // Sessions close once their turns are answered, in whatever order that
  // happens (an idle older Session may hold the blocks a younger one needs).
  std::vector<bool> closed(streams.size(), false);
  EXPECT_TRUE(testing::PollUntil([&] {
    bool all = true;
    for (size_t i = 0; i < streams.size(); ++i) {
      Stream& s = streams[i];
      if (!s.persistent || s.cancel || closed[i]) continue;
      if (s.sink->summaries().size() < s.turns.size()) {
        all = false;
        continue;
      }
      scheduler.CloseSession(s.id, /*reply=*/true);
      closed[i] = true;
    }
    return all;
  }));

  for (size_t i = 0; i < streams.size(); ++i) {
    Stream& s = streams[i];
    SCOPED_TRACE(::testing::Message()
                 << "stream " << i << (s.persistent ? " session" : " generate")
                 << (s.cancel ? " cancelled" : ""));
    if (!s.sink->WaitFinished()) {
      ADD_FAILURE() << "stream never ended";
      continue;
    }
    EXPECT_EQ(s.sink->finish_calls(), 1);
    const absl::Status status = *s.sink->status();
    if (s.cancel) {
      // Unless it was done before the cancel was seen.
      EXPECT_TRUE(status.ok() || absl::IsCancelled(status)) << status;
      continue;
    }
    EXPECT_TRUE(status.ok()) << status;
    const std::vector<v1::Summary> summaries = s.sink->summaries();
    EXPECT_EQ(summaries.size(), s.turns.size());
    // Exact tokens while every turn ran to its end; after a refused turn a
    // Session's later context differs from the reference, so only the
    // turns up to the first refusal are compared.
    const std::vector<std::vector<int32_t>> expected =
        ExpectedTokens(reference, s.turns);
    std::vector<v1::TokenEvent> events = s.sink->tokens();
    size_t next = 0;
    for (size_t t = 0; t < summaries.size(); ++t) {
      const v1::Summary& sum = summaries[t];
      outcome.preemptions += sum.preemptions();
      std::vector<int32_t> got;
      for (int64_t k = 0; k < sum.generated_tokens(); ++k) {
        got.push_back(events.at(next++).token());
      }
      const v1::FinishReason want =
          s.turns[t].kind == TurnRequest::Kind::kAppend ? v1::APPENDED
                                                        : v1::LENGTH;
      if (sum.finish_reason() == want) {
        EXPECT_THAT(got, ElementsAreArray(expected[t])) << "turn " << t;
        continue;
      }
      // Only the budget may refuse a turn here (no per-request limits):
      // under reject whenever it cannot grow, under preempt only when the
      // turn's stream was alone with the budget or its inputs exceed all of
      // it.
      EXPECT_EQ(sum.finish_reason(), v1::STATE_LIMIT) << sum.detail();
      ++outcome.refused_turns;
      if (policy == Policy::kPreempt) {
        EXPECT_THAT(
            sum.detail(),
            ::testing::AnyOf(::testing::HasSubstr("no other session"),
                             ::testing::HasSubstr("whole state budget")));
      }
      std::vector<int32_t> prefix = expected[t];
      prefix.resize(std::min(prefix.size(), got.size()));
      EXPECT_THAT(got, ElementsAreArray(prefix)) << "turn " << t;
      break;
    }
  }
  // Never above the budget; the whole budget given back.
  EXPECT_LE(engine.max_used_bytes(), budget);
  EXPECT_TRUE(testing::PollUntil([&] { return scheduler.Idle(); }));
  EXPECT_EQ(engine.pool().used_bytes(), 0);
  if (policy == Policy::kReject) {
    EXPECT_EQ(metrics->limit_events(LimitEvent::kPreempted).Value(), 0);
  } else {
    EXPECT_GE(metrics->limit_events(LimitEvent::kPreempted).Value(),
              outcome.preemptions);
  }
  return outcome;
}

TEST(SchedulerRandomTest, PreemptPolicyLosesNothingAndKeepsTheBudget) {
  int preemptions = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    preemptions += RunRandomLoad(seed, Policy::kPreempt).preemptions;
  }
  EXPECT_GT(preemptions, 12);  // the load did outgrow the budget
}

TEST(SchedulerRandomTest, RejectPolicyLosesNothingAndKeepsTheBudget) {
  int refused = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    refused += RunRandomLoad(seed, Policy::kReject).refused_turns;
  }
  EXPECT_GT(refused, 12);  // the load did outgrow the budget
}

}  // namespace
}  // namespace trilemma
