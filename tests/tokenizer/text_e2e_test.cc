// Text on the wire, end to end over a real gRPC channel: a checkpoint engine
// with a tokenizer.json (make_checkpoints.py's llama_text) takes text in
// Generate and Session turns and streams each token's text piece; an engine
// without a tokenizer refuses text naming the field; a broken
// tokenizer.json stops the server from starting, naming engine and file.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engines/tokenizer/load.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "server/validation.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

std::string CheckpointDir() {
  const char* dir = std::getenv("TRILEMMA_TEST_CHECKPOINTS");
  return dir == nullptr ? "" : std::string(dir) + "/llama_text";
}

absl::StatusOr<std::unique_ptr<TrilemmaServer>> Start(const std::string& dir) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  EngineSpec text;
  text.name = "text";
  text.checkpoint = dir;
  text.state_budget_bytes = int64_t{64} << 20;
  return TrilemmaServer::Start(
      {text, testing::SmallSpec("attention", "attention")}, options);
}

class TextE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        Start(CheckpointDir());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    tokenizer_ = LoadTokenizerFromDir(CheckpointDir())->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tokenizer_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(tokenizer_, nullptr);
    stub_ = testing::Connect(*server_);
  }

  static TrilemmaServer* server_;
  static Tokenizer* tokenizer_;
  std::unique_ptr<v1::Trilemma::Stub> stub_;
};
TrilemmaServer* TextE2ETest::server_ = nullptr;
Tokenizer* TextE2ETest::tokenizer_ = nullptr;

TEST_F(TextE2ETest, ListEnginesSaysWhichEngineHasATokenizer) {
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  v1::ListEnginesResponse response;
  ASSERT_TRUE(stub_->ListEngines(&context, {}, &response).ok());
  ASSERT_EQ(response.engines_size(), 2);
  const v1::EngineInfo& text = response.engines(0);
  ASSERT_TRUE(text.has_tokenizer());
  EXPECT_EQ(text.tokenizer().kind(), "bpe");
  EXPECT_EQ(text.tokenizer().vocab_size(), 288);
  EXPECT_THAT(text.tokenizer().file(), HasSubstr("llama_text/tokenizer.json"));
  EXPECT_FALSE(response.engines(1).has_tokenizer());
}

TEST_F(TextE2ETest, GenerateFromTextEqualsGenerateFromItsIds) {
  const std::string prompt = "the cat sat on the mat, and then it ate";
  const std::vector<int32_t> ids = *tokenizer_->Encode(prompt);
  v1::GenerateRequest by_text;
  by_text.set_engine("text");
  by_text.set_text(prompt);
  by_text.set_max_new_tokens(12);
  testing::GenerateResult from_text = testing::RunGenerate(*stub_, by_text);
  ASSERT_TRUE(from_text.status.ok()) << from_text.status.error_message();
  ASSERT_EQ(from_text.summaries.size(), 1u);
  EXPECT_EQ(from_text.summaries[0].prompt_tokens(),
            static_cast<int64_t>(ids.size()));

  testing::GenerateResult from_ids =
      testing::RunGenerate(*stub_, testing::MakeGenerate("text", ids, 12));
  ASSERT_TRUE(from_ids.status.ok());
  ASSERT_EQ(from_text.tokens.size(), 12u);
  ASSERT_EQ(from_ids.tokens.size(), 12u);
  std::vector<int32_t> generated;
  std::string streamed;
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(from_text.tokens[i].token(), from_ids.tokens[i].token());
    EXPECT_EQ(from_text.tokens[i].text(), from_ids.tokens[i].text());
    generated.push_back(from_text.tokens[i].token());
    streamed += from_text.tokens[i].text();
  }
  streamed += from_text.summaries[0].text_tail();
  EXPECT_EQ(streamed, *tokenizer_->Decode(generated));
}

TEST_F(TextE2ETest, TextIsRefusedNamingTheField) {
  v1::GenerateRequest request;
  request.set_engine("attention");
  request.set_text("hello");
  testing::GenerateResult r = testing::RunGenerate(*stub_, request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("text: this engine has no "
                                                  "tokenizer"));

  request.set_engine("text");
  request.add_prompt(5);
  r = testing::RunGenerate(*stub_, request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("set either prompt or text"));

  // Not valid UTF-8: protobuf itself refuses such a string on the wire;
  // the server's own check (for callers that skip protobuf) names the byte.
  request.clear_prompt();
  request.set_text("ok \xFF");
  r = testing::RunGenerate(*stub_, request);
  EXPECT_FALSE(r.status.ok());
  absl::StatusOr<std::vector<int32_t>> ids =
      PromptIds({}, "ok \xFF", 288, tokenizer_, "prompt", "text", true);
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "text: not valid UTF-8 at byte 3");
}

TEST_F(TextE2ETest, SessionTurnsTakeTextAndStreamPieces) {
  testing::SessionClient session(*stub_);
  ASSERT_TRUE(session.Open("text"));
  v1::SessionRequest append;
  append.mutable_append()->set_text("the cat sat on the mat");
  ASSERT_TRUE(session.Send(append));
  std::optional<v1::Summary> appended = session.NextSummary();
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->prompt_tokens(),
            static_cast<int64_t>(
                tokenizer_->Encode("the cat sat on the mat")->size()));

  v1::SessionRequest turn;
  turn.mutable_generate()->set_text(" and then");
  turn.mutable_generate()->set_max_new_tokens(6);
  ASSERT_TRUE(session.Send(turn));
  std::vector<int32_t> generated;
  std::string streamed;
  for (;;) {
    std::optional<v1::SessionEvent> event = session.Next();
    ASSERT_TRUE(event.has_value());
    if (event->has_summary()) {
      streamed += event->summary().text_tail();
      break;
    }
    ASSERT_TRUE(event->has_token());
    generated.push_back(event->token().token());
    streamed += event->token().text();
  }
  EXPECT_EQ(generated.size(), 6u);
  EXPECT_EQ(streamed, *tokenizer_->Decode(generated));
  EXPECT_TRUE(session.Close().ok());

  testing::SessionClient plain(*stub_);
  ASSERT_TRUE(plain.Open("attention"));
  ASSERT_TRUE(plain.Send(append));
  grpc::Status status = plain.Close();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("append.text: this engine has "
                                                "no tokenizer"));
}

TEST(TextE2EStart, BrokenTokenizerJsonStopsTheServerNamingEngineAndFile) {
  const std::filesystem::path copy =
      std::filesystem::path(::testing::TempDir()) / "llama_text_broken";
  std::filesystem::remove_all(copy);
  std::filesystem::copy(CheckpointDir(), copy);
  std::ofstream(copy / "tokenizer.json") << "{\"model\": {\"type\": \"BPE\"}}";
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server = Start(copy.string());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("engine 'text': "));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("llama_text_broken/tokenizer.json: model.vocab: "
                        "missing"));
}

}  // namespace
}  // namespace trilemma
