// End to end over a real gRPC channel: Generate streaming, Session turns with
// recall probes, cancellation, limits, budget exhaustion and drain.
#include <memory>
#include <thread>
#include <vector>

#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::MakeGenerate;
using testing::RunGenerate;
using testing::SessionClient;

class E2EStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = testing::StartSmallServer().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = testing::Connect(*server_);
  }
  static const Engine& EngineNamed(const std::string& name) {
    return *server_->host().FindHosted(name)->engine;
  }
  static int64_t PoolUsed(const std::string& name) {
    return EngineNamed(name).pool().used_bytes();
  }
  // Sessions of earlier tests are closed asynchronously: wait for them.
  static bool PoolDrains(const std::string& name) {
    return testing::PollUntil([&] { return PoolUsed(name) == 0; });
  }

  static TrilemmaServer* server_;
  std::unique_ptr<v1::Trilemma::Stub> stub_;
};

TrilemmaServer* E2EStreamTest::server_ = nullptr;

TEST_F(E2EStreamTest, GenerateStreamsTokensThenOneSummary) {
  const testing::GenerateResult r =
      RunGenerate(*stub_, MakeGenerate("attention", {4, 8, 15, 16}, 7));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.tokens.size(), 7u);
  ASSERT_EQ(r.summaries.size(), 1u);
  EXPECT_FALSE(r.out_of_order);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(r.tokens[i].index(), i);
    EXPECT_EQ(r.tokens[i].stats().context_tokens(), 4 + i);
    EXPECT_GT(r.tokens[i].stats().flops(), 0);
    EXPECT_GE(r.tokens[i].stats().batch_size(), 1);
    tokens.push_back(r.tokens[i].token());
  }
  EXPECT_THAT(tokens, ElementsAreArray(testing::DirectGreedy(
                          EngineNamed("attention"), {4, 8, 15, 16}, 7)));
  const v1::Summary& s = r.summaries[0];
  EXPECT_EQ(s.finish_reason(), v1::LENGTH);
  EXPECT_EQ(s.prompt_tokens(), 4);
  EXPECT_EQ(s.generated_tokens(), 7);
  EXPECT_GT(s.total_flops(), 0);
  EXPECT_GE(s.total_seconds(), s.ttft_seconds());
  EXPECT_GT(s.peak_state_bytes(), 0);

  // max_new_tokens 0 means 1.
  const testing::GenerateResult one =
      RunGenerate(*stub_, MakeGenerate("window", {1, 2}, 0));
  ASSERT_TRUE(one.status.ok());
  EXPECT_EQ(one.tokens.size(), 1u);
}

TEST_F(E2EStreamTest, SessionStoresFactsAndAnswersManyQueries) {
  SessionClient session(*stub_);
  ASSERT_TRUE(session.Open("attention"));
  const std::vector<int32_t> keys = {3, 17, 29, 44, 58, 71, 90, 101};
  const std::vector<int32_t> values = {140, 151, 166, 180, 199, 210, 231, 250};
  std::vector<int32_t> facts;
  for (size_t i = 0; i < keys.size(); ++i) {
    facts.push_back(keys[i]);
    facts.push_back(values[i]);
  }
  const std::optional<v1::Summary> appended = session.Append(facts);
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->finish_reason(), v1::APPENDED);
  EXPECT_EQ(appended->prompt_tokens(), 16);
  EXPECT_EQ(appended->context_tokens(), 16);
  const int64_t stored_bytes = appended->state_bytes();
  EXPECT_GT(stored_bytes, 0);

  // The same facts answer query after query: the state persists.
  int hits = 0, probes = 0;
  int64_t context = 16;
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      std::vector<int32_t> answer;
      const std::optional<v1::Summary> s =
          session.Generate({keys[i]}, 1, &answer, {values[i]});
      ASSERT_TRUE(s.has_value());
      ASSERT_EQ(answer.size(), 1u);
      EXPECT_TRUE(s->recall().probed());
      EXPECT_EQ(s->recall().hit(), answer[0] == values[i]);
      EXPECT_GT(s->context_tokens(), context);
      context = s->context_tokens();
      hits += s->recall().hit();
      ++probes;
    }
  }
  EXPECT_GE(hits, probes - 3);
  EXPECT_EQ(session.Close().error_code(), grpc::StatusCode::OK);
}

TEST_F(E2EStreamTest, SessionCloseRepliesWithClosed) {
  SessionClient session(*stub_);
  ASSERT_TRUE(session.Open("window"));
  ASSERT_TRUE(session.Append({1, 2, 3}).has_value());
  v1::SessionRequest close;
  close.mutable_close();
  ASSERT_TRUE(session.Send(close));
  std::optional<v1::SessionEvent> closed = session.Next();
  ASSERT_TRUE(closed.has_value());
  ASSERT_TRUE(closed->has_closed());
  EXPECT_EQ(closed->closed().context_tokens(), 3);
  EXPECT_GT(closed->closed().peak_state_bytes(), 0);
  EXPECT_FALSE(session.Next().has_value());
  EXPECT_TRUE(session.Close().ok());
}

TEST_F(E2EStreamTest, SessionStopEndsTheTurnWithCancelledAndKeepsState) {
  SessionClient session(*stub_);
  ASSERT_TRUE(session.Open("attention"));
  ASSERT_TRUE(session.Append({1, 2, 3, 4}).has_value());
  v1::SessionRequest generate;
  generate.mutable_generate()->add_prompt(5);
  generate.mutable_generate()->set_max_new_tokens(65536);
  ASSERT_TRUE(session.Send(generate));
  // The server reads the stop while the turn runs.
  std::optional<v1::SessionEvent> first = session.Next();
  ASSERT_TRUE(first.has_value() && first->has_token());
  v1::SessionRequest stop;
  stop.mutable_stop();
  ASSERT_TRUE(session.Send(stop));
  std::vector<int32_t> tokens = {first->token().token()};
  std::optional<v1::Summary> stopped = session.NextSummary(&tokens);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->finish_reason(), v1::CANCELLED);
  EXPECT_LT(stopped->generated_tokens(), 65536);
  EXPECT_EQ(stopped->generated_tokens(), static_cast<int64_t>(tokens.size()));
  EXPECT_EQ(stopped->context_tokens(), 5 + stopped->generated_tokens() - 1);
  // The session goes on from its kept state: an empty prompt continues from
  // the last generated token.
  std::vector<int32_t> next;
  std::optional<v1::Summary> more = session.Generate({}, 2, &next);
  ASSERT_TRUE(more.has_value());
  EXPECT_EQ(more->finish_reason(), v1::LENGTH);
  EXPECT_EQ(more->context_tokens(), stopped->context_tokens() + 2);
  EXPECT_TRUE(session.Close().ok());
}

TEST_F(E2EStreamTest, ClientCancelReleasesTheState) {
  ASSERT_TRUE(PoolDrains("attention"));
  {
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    auto reader =
        stub_->Generate(&context, MakeGenerate("attention", {1, 2, 3}, 65536));
    v1::GenerateEvent event;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&event));
    EXPECT_GT(PoolUsed("attention"), 0);
    context.TryCancel();
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(PoolDrains("attention"));

  // A Session stream cancelled between turns frees its state too.
  SessionClient session(*stub_);
  ASSERT_TRUE(session.Open("attention"));
  ASSERT_TRUE(session.Append({1, 2, 3, 4, 5}).has_value());
  EXPECT_GT(PoolUsed("attention"), 0);
  session.Cancel();
  EXPECT_EQ(session.Close().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(PoolDrains("attention"));
}

TEST_F(E2EStreamTest, DeadlineCancelsAStream) {
  ASSERT_TRUE(PoolDrains("window"));
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(50)));
  auto reader = stub_->Generate(&context, MakeGenerate("window", {1}, 65536));
  v1::GenerateEvent event;
  // Read slowly so the stream cannot finish before its deadline.
  while (reader->Read(&event)) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(PoolDrains("window"));
}

TEST_F(E2EStreamTest, LimitsEndTurnsWithTheirFinishReason) {
  v1::GenerateRequest context_limited = MakeGenerate("attention", {1, 2}, 50);
  context_limited.mutable_limits()->set_max_context_tokens(5);
  testing::GenerateResult r = RunGenerate(*stub_, context_limited);
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.summaries.size(), 1u);
  EXPECT_EQ(r.summaries[0].finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_EQ(r.tokens.size(), 4u);
  EXPECT_EQ(r.summaries[0].context_tokens(), 5);

  v1::GenerateRequest state_limited = MakeGenerate("attention", {1, 2}, 50);
  state_limited.mutable_limits()->set_max_state_bytes(
      testing::kAttentionFixedBytes + testing::kAttentionBlockBytes);
  r = RunGenerate(*stub_, state_limited);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.summaries.at(0).finish_reason(), v1::STATE_LIMIT);
  EXPECT_EQ(r.summaries[0].context_tokens(), 16);
  EXPECT_LE(r.summaries[0].peak_state_bytes(),
            testing::kAttentionFixedBytes + testing::kAttentionBlockBytes);

  // The sliding window's state stops growing, so the same limit never hits.
  v1::GenerateRequest window = MakeGenerate("window", {1, 2}, 50);
  *window.mutable_limits() = state_limited.limits();
  r = RunGenerate(*stub_, window);
  EXPECT_EQ(r.summaries.at(0).finish_reason(), v1::LENGTH);

  // In a Session a limit ends the turn, not the session.
  SessionClient session(*stub_);
  v1::Limits limits;
  limits.set_max_context_tokens(10);
  ASSERT_TRUE(session.Open("attention", limits));
  ASSERT_TRUE(session.Append({1, 2, 3, 4, 5, 6}).has_value());
  std::optional<v1::Summary> s = session.Generate({7}, 20);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_EQ(s->context_tokens(), 10);
  s = session.Append({8, 9, 10});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->finish_reason(), v1::CONTEXT_LIMIT);
  EXPECT_EQ(s->prompt_tokens(), 0);
  EXPECT_TRUE(session.Close().ok());
}

TEST_F(E2EStreamTest, FullBudgetGivesResourceExhaustedNamingIt) {
  ASSERT_TRUE(PoolDrains("tiny"));
  // A running stream the budget cannot grow ends with STATE_LIMIT.
  testing::GenerateResult r =
      RunGenerate(*stub_, MakeGenerate("tiny", {1, 2}, 100));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.summaries.at(0).finish_reason(), v1::STATE_LIMIT);
  EXPECT_THAT(r.summaries[0].detail(), HasSubstr("state budget"));
  ASSERT_TRUE(PoolDrains("tiny"));

  // A prompt that needs more than the whole budget is refused at once.
  r = RunGenerate(*stub_, MakeGenerate("tiny", std::vector<int32_t>(40, 3), 1));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("whole state budget of engine 'tiny'"));
  EXPECT_TRUE(r.tokens.empty());
  ASSERT_TRUE(PoolDrains("tiny"));

  // A session holding the whole budget makes new requests wait, then fail.
  SessionClient holder(*stub_);
  ASSERT_TRUE(holder.Open("tiny"));
  ASSERT_TRUE(holder.Append(std::vector<int32_t>(16, 5)).has_value());
  r = RunGenerate(*stub_, MakeGenerate("tiny", {1}, 1));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("state budget of engine 'tiny'"));
  EXPECT_TRUE(r.tokens.empty());
  SessionClient second(*stub_);
  v1::SessionRequest open;
  open.mutable_open()->set_engine("tiny");
  ASSERT_TRUE(second.Send(open));
  EXPECT_FALSE(second.Next().has_value());
  EXPECT_EQ(second.Close().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Once it closes, the budget serves again.
  EXPECT_TRUE(holder.Close().ok());
  r = RunGenerate(*stub_, MakeGenerate("tiny", {1}, 1));
  EXPECT_TRUE(r.status.ok());
}

TEST(E2EDrainTest, ShutdownCutsRunningStreamsAndClosesIdleSessions) {
  std::unique_ptr<TrilemmaServer> server = testing::StartSmallServer();
  ASSERT_NE(server, nullptr);
  auto stub = testing::Connect(*server);

  SessionClient idle(*stub);
  ASSERT_TRUE(idle.Open("window"));
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  auto reader =
      stub->Generate(&context, MakeGenerate("attention", {1, 2}, 65536));
  v1::GenerateEvent event;
  ASSERT_TRUE(reader->Read(&event));

  std::thread shutdown([&] { server->Shutdown(absl::ZeroDuration()); });
  std::optional<v1::Summary> summary;
  while (reader->Read(&event)) {
    if (event.has_summary()) summary = event.summary();
  }
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->finish_reason(), v1::SHUTDOWN);
  EXPECT_FALSE(idle.Next().has_value());
  EXPECT_EQ(idle.Close().error_code(), grpc::StatusCode::UNAVAILABLE);
  shutdown.join();
  EXPECT_EQ(server->host().FindHosted("attention")->engine->pool().used_bytes(),
            0);

  // Nothing is served afterwards.
  grpc::ClientContext late;
  late.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::ListEnginesResponse response;
  EXPECT_FALSE(stub->ListEngines(&late, {}, &response).ok());
}

}  // namespace
}  // namespace trilemma
