// End to end over gRPC: many concurrent streams against an engine whose
// state budget holds only a few of them, under each budget policy. Every
// stream must end with its documented outcome (preempt: all finish with the
// uninterrupted greedy tokens, some after preemption; reject: some end with
// STATE_LIMIT naming the budget), none may hang or be lost, and once all end
// the engine holds no state — in the pool and on /metrics.
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::kAttentionBlockBytes;
using testing::kAttentionFixedBytes;
using Policy = SchedulerOptions::BudgetPolicy;

constexpr int kGenerates = 10;
constexpr int kSessions = 2;
constexpr int kPromptTokens = 8;
constexpr int kMaxNew = 90;  // 8 + 89 = 97 tokens: 7 blocks of 16
constexpr int kBudgetBlocks = 12;

std::vector<int32_t> PromptOf(int stream) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < kPromptTokens; ++i) {
    prompt.push_back((stream * 37 + i * 11) % testing::kVocab);
  }
  return prompt;
}

std::vector<int32_t> TokensOf(const std::vector<v1::TokenEvent>& events) {
  std::vector<int32_t> out;
  for (const v1::TokenEvent& e : events) out.push_back(e.token());
  return out;
}

// One stream's result: a Generate, or a Session's one generate turn.
struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::vector<v1::Summary> summaries;
};

class E2EBudgetTest : public ::testing::TestWithParam<Policy> {};

TEST_P(E2EBudgetTest, ConcurrentStreamsOverASmallBudgetAllEndAndFreeIt) {
  const Policy policy = GetParam();
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.scheduler.budget_policy = policy;
  options.scheduler.max_queue_wait = absl::Seconds(60);
  const int64_t budget = (kGenerates + kSessions) * kAttentionFixedBytes +
                         kBudgetBlocks * kAttentionBlockBytes;
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start(
          {testing::SmallSpec("attention", "attention", budget)}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::unique_ptr<Engine> reference =
      CreateEngine(testing::SmallSpec("attention", "attention")).value();

  // All streams start together, so about 12 want 7 blocks each of 12.
  constexpr int kStreams = kGenerates + kSessions;
  std::vector<StreamResult> results(kStreams);
  absl::Barrier* start = new absl::Barrier(kStreams);
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      std::unique_ptr<v1::Trilemma::Stub> stub = testing::Connect(**server);
      StreamResult& r = results[i];
      if (start->Block()) delete start;
      if (i < kGenerates) {
        testing::GenerateResult g = testing::RunGenerate(
            *stub, testing::MakeGenerate("attention", PromptOf(i), kMaxNew));
        r.status = g.status;
        r.tokens = TokensOf(g.tokens);
        r.summaries = g.summaries;
        return;
      }
      testing::SessionClient session(*stub);
      if (!session.Open("attention")) {
        r.status = session.Close();
        return;
      }
      std::optional<v1::Summary> s =
          session.Generate(PromptOf(i), kMaxNew, &r.tokens);
      if (s) r.summaries.push_back(*s);
      r.status = session.Close();
    });
  }
  for (std::thread& t : clients) t.join();

  int preemptions = 0;
  int64_t recomputed = 0;
  int64_t consumed = 0;
  int refused = 0;
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(absl::StrCat("stream ", i));
    const StreamResult& r = results[i];
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ASSERT_EQ(r.summaries.size(), 1u);
    const v1::Summary& s = r.summaries[0];
    std::vector<int32_t> expected =
        testing::DirectGreedy(*reference, PromptOf(i), kMaxNew);
    preemptions += s.preemptions();
    recomputed += s.recomputed_tokens();
    consumed += s.context_tokens();
    // A preemption costs at most the context once (docs/overload.md).
    EXPECT_LE(s.recomputed_tokens(), s.preemptions() * s.context_tokens());
    if (s.finish_reason() == v1::STATE_LIMIT) {
      ++refused;
      EXPECT_THAT(s.detail(), HasSubstr("state budget of engine 'attention'"));
      expected.resize(s.generated_tokens());
    } else {
      EXPECT_EQ(s.finish_reason(), v1::LENGTH) << s.detail();
    }
    EXPECT_EQ(r.tokens.size(), static_cast<size_t>(s.generated_tokens()));
    EXPECT_THAT(r.tokens, ElementsAreArray(expected));
  }
  // The extra work preemption cost, for the record (docs/overload.md).
  std::cout << "[ figures  ] " << BudgetPolicyName(policy) << ": "
            << preemptions << " preemptions over " << kStreams << " streams, "
            << recomputed << " tokens recomputed beside " << consumed
            << " consumed\n";
  if (policy == Policy::kPreempt) {
    EXPECT_GT(preemptions, 0);
    EXPECT_EQ(refused, 0);
  } else {
    EXPECT_EQ(preemptions, 0);
    EXPECT_GT(refused, 0);
  }

  // Nothing held, and /metrics says so.
  const Engine& engine = *(*server)->host().FindHosted("attention")->engine;
  ASSERT_TRUE(
      testing::PollUntil([&] { return engine.pool().used_bytes() == 0; }));
  std::map<std::string, double> samples;
  ASSERT_TRUE(testing::PollUntil([&] {
    absl::StatusOr<std::string> body =
        testing::HttpGet((*server)->metrics_port(), "/metrics");
    if (!body.ok()) return false;
    samples = testing::ParseMetrics(*body);
    return samples["trilemma_active_sessions{engine=\"attention\"}"] == 0;
  }));
  EXPECT_EQ(
      samples["trilemma_state_bytes{engine=\"attention\",tier=\"model\"}"], 0);
  EXPECT_EQ(samples["trilemma_state_blocks{engine=\"attention\",use=\"used\"}"],
            0);
  EXPECT_EQ(
      samples["trilemma_state_blocks{engine=\"attention\",use=\"total\"}"],
      static_cast<double>(engine.pool().total_blocks()));
  EXPECT_EQ(samples["trilemma_waiting_requests{engine=\"attention\"}"], 0);
  const double preempted = samples
      ["trilemma_limit_events_total{engine=\"attention\",limit=\"preempted\"}"];
  const double budget_refusals = samples
      ["trilemma_limit_events_total{engine=\"attention\",limit=\"budget\"}"];
  // (An idle Session can be preempted too; no turn summary counts that.)
  EXPECT_GE(preempted, preemptions);
  EXPECT_EQ(budget_refusals, refused);
  if (policy == Policy::kPreempt) {
    EXPECT_GT(samples["trilemma_recomputed_tokens_total{engine=\"attention\"}"],
              0);
  }
  (*server)->Shutdown(absl::Seconds(5));
}

INSTANTIATE_TEST_SUITE_P(Policies, E2EBudgetTest,
                         ::testing::Values(Policy::kPreempt, Policy::kReject),
                         [](const auto& info) {
                           return std::string(BudgetPolicyName(info.param));
                         });

// The request message cap follows --max_context_tokens (the flag's default,
// -1): a prompt whose message is over it gets gRPC's RESOURCE_EXHAUSTED
// naming the cap in bytes (documented in trilemma.proto as not retryable),
// before the scheduler sees it; a prompt under it reaches the scheduler and
// is held to max_context_tokens there.
TEST(E2EMessageCapTest, AnOversizePromptGetsTheDocumentedStatusNamingTheCap) {
  constexpr int64_t kMaxContext = 1000;
  const int cap = ResolveMaxMessageBytes(-1, kMaxContext);
  EXPECT_EQ(cap, kMaxContext * 5 + 65536);
  EXPECT_EQ(ResolveMaxMessageBytes(0, kMaxContext), 0);  // gRPC's 4 MiB
  EXPECT_EQ(ResolveMaxMessageBytes(-1, 0), MessageBytesForContext(1 << 20));
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.scheduler.max_context_tokens = kMaxContext;
  options.max_message_bytes = cap;
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start({testing::SmallSpec("attention", "attention")},
                            options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::Connect(**server);

  // Token 200 is a 2-byte varint: 40,000 of them are about 80 KB.
  const testing::GenerateResult over = testing::RunGenerate(
      *stub,
      testing::MakeGenerate("attention", std::vector<int32_t>(40000, 200), 4));
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << over.status.error_message();
  EXPECT_THAT(over.status.error_message(), HasSubstr(absl::StrCat(cap)));
  EXPECT_TRUE(over.tokens.empty());

  // Just over the context cap, well under the message cap: the scheduler
  // refuses it with CONTEXT_LIMIT naming max_context_tokens.
  const testing::GenerateResult context = testing::RunGenerate(
      *stub, testing::MakeGenerate(
                 "attention", std::vector<int32_t>(kMaxContext + 1, 200), 4));
  ASSERT_TRUE(context.status.ok()) << context.status.error_message();
  ASSERT_EQ(context.summaries.size(), 1u);
  EXPECT_EQ(context.summaries[0].finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_THAT(context.summaries[0].detail(),
              HasSubstr(absl::StrCat("max_context_tokens ", kMaxContext)));

  // A Session append over the cap ends the stream the same way.
  testing::SessionClient session(*stub);
  ASSERT_TRUE(session.Open("attention"));
  v1::SessionRequest append;
  for (int i = 0; i < 40000; ++i) append.mutable_append()->add_tokens(200);
  session.Send(append);
  const grpc::Status closed = session.Close();
  EXPECT_EQ(closed.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << closed.error_message();
  EXPECT_THAT(closed.error_message(), HasSubstr(absl::StrCat(cap)));
  (*server)->Shutdown(absl::Seconds(10));
}

}  // namespace
}  // namespace trilemma
