// ParseCompletionRequest on well-formed bodies and on every malformed case:
// each is refused with INVALID_ARGUMENT whose message names the field.
#include "server/http/completion_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CompletionRequestTest, TokenPromptWithEveryField) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(R"({
    "model": "attention", "prompt": [3, 4100, 3], "max_tokens": 5,
    "temperature": 0, "seed": 9, "stop": ["\n", " 7"], "stream": true,
    "stream_options": {"include_usage": true}, "top_p": 1, "n": 1,
    "max_state_bytes": 4096, "max_context_tokens": 64, "user": "ignored"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "attention");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_FALSE(r->prompts[0].text.has_value());
  EXPECT_THAT(r->prompts[0].tokens, ElementsAre(3, 4100, 3));
  EXPECT_EQ(r->max_tokens, 5);
  EXPECT_EQ(r->sampling.temperature(), 0.0f);
  EXPECT_EQ(r->sampling.seed(), 9u);
  EXPECT_EQ(r->sampling.top_p(), 1.0f);
  EXPECT_THAT(r->stop, ElementsAre("\n", " 7"));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->limits.max_state_bytes(), 4096);
  EXPECT_EQ(r->limits.max_context_tokens(), 64);
}

TEST(CompletionRequestTest, DefaultsFollowOpenAi) {
  absl::StatusOr<CompletionRequest> r =
      ParseCompletionRequest(R"({"model": "m", "prompt": "hello"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->max_tokens, 16);
  EXPECT_EQ(r->sampling.temperature(), 1.0f);
  EXPECT_FALSE(r->stream);
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text, "hello");
}

TEST(CompletionRequestTest, TopPReachesTheSampler) {
  absl::StatusOr<CompletionRequest> r =
      ParseCompletionRequest(R"({"model": "m", "prompt": [1], "top_p": 0.25})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sampling.top_p(), 0.25f);
}

TEST(CompletionRequestTest, ListOfPromptsMixesTextAndTokens) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(
      R"({"model": "m", "prompt": ["a b", [1, 2], "c"]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->prompts.size(), 3u);
  EXPECT_EQ(r->prompts[0].text, "a b");
  EXPECT_THAT(r->prompts[1].tokens, ElementsAre(1, 2));
  EXPECT_EQ(r->prompts[2].text, "c");
}

struct Malformed {
  const char* name;
  std::string body;
  const char* field;  // FieldOfMessage of the error
};

class MalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTest, RefusedNamingTheField) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(GetParam().body);
  ASSERT_FALSE(r.ok()) << GetParam().body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOfMessage(r.status().message()), GetParam().field)
      << r.status();
}

const std::string k64Prompts = [] {
  std::string list = "[";
  for (int i = 0; i < 65; ++i) list += i == 0 ? "[1]" : ",[1]";
  return list + "]";
}();

INSTANTIATE_TEST_SUITE_P(
    EveryCase, MalformedTest,
    ::testing::Values(
        Malformed{"not_json", "{model: 1", "body"},
        Malformed{"empty_body", "", "body"},
        Malformed{"truncated", R"({"model": "m", "prompt": [1,)", "body"},
        Malformed{"array_body", "[1, 2]", "body"},
        Malformed{"no_model", R"({"prompt": [1]})", "model"},
        Malformed{"model_number", R"({"model": 5, "prompt": [1]})", "model"},
        Malformed{"empty_model", R"({"model": "", "prompt": [1]})", "model"},
        Malformed{"no_prompt", R"({"model": "m"})", "prompt"},
        Malformed{"null_prompt", R"({"model": "m", "prompt": null})", "prompt"},
        Malformed{"prompt_number", R"({"model": "m", "prompt": 5})", "prompt"},
        Malformed{"prompt_object", R"({"model": "m", "prompt": {}})", "prompt"},
        Malformed{"empty_text", R"({"model": "m", "prompt": ""})", "prompt"},
        Malformed{"empty_array", R"({"model": "m", "prompt": []})", "prompt"},
        Malformed{"negative_token", R"({"model": "m", "prompt": [1, -2]})",
                  "prompt[1]"},
        Malformed{"float_token", R"({"model": "m", "prompt": [1.5]})",
                  "prompt[0]"},
        Malformed{"huge_token", R"({"model": "m", "prompt": [4294967296]})",
                  "prompt[0]"},
        Malformed{"string_in_tokens", R"({"model": "m", "prompt": [1, "a"]})",
                  "prompt[1]"},
        Malformed{"nested_too_deep", R"({"model": "m", "prompt": [[[1]]]})",
                  "prompt[0][0]"},
        Malformed{"empty_inner", R"({"model": "m", "prompt": [[1], []]})",
                  "prompt[1]"},
        Malformed{"too_many_prompts",
                  R"({"model": "m", "prompt": )" + k64Prompts + "}", "prompt"},
        Malformed{"max_tokens_zero",
                  R"({"model": "m", "prompt": [1], "max_tokens": 0})",
                  "max_tokens"},
        Malformed{"max_tokens_huge",
                  R"({"model": "m", "prompt": [1], "max_tokens": 65537})",
                  "max_tokens"},
        Malformed{"max_tokens_string",
                  R"({"model": "m", "prompt": [1], "max_tokens": "5"})",
                  "max_tokens"},
        Malformed{"temperature_negative",
                  R"({"model": "m", "prompt": [1], "temperature": -1})",
                  "temperature"},
        Malformed{"temperature_string",
                  R"({"model": "m", "prompt": [1], "temperature": "hot"})",
                  "temperature"},
        Malformed{"seed_float", R"({"model": "m", "prompt": [1], "seed": 1.5})",
                  "seed"},
        Malformed{"n_two", R"({"model": "m", "prompt": [1], "n": 2})", "n"},
        Malformed{"best_of", R"({"model": "m", "prompt": [1], "best_of": 3})",
                  "best_of"},
        Malformed{"top_p_zero", R"({"model": "m", "prompt": [1], "top_p": 0})",
                  "top_p"},
        Malformed{"top_p_above_one",
                  R"({"model": "m", "prompt": [1], "top_p": 1.5})", "top_p"},
        Malformed{"top_p_negative",
                  R"({"model": "m", "prompt": [1], "top_p": -0.2})", "top_p"},
        Malformed{"top_p_string",
                  R"({"model": "m", "prompt": [1], "top_p": "0.9"})", "top_p"},
        Malformed{"echo", R"({"model": "m", "prompt": [1], "echo": true})",
                  "echo"},
        Malformed{"logprobs", R"({"model": "m", "prompt": [1], "logprobs": 2})",
                  "logprobs"},
        Malformed{"suffix", R"({"model": "m", "prompt": [1], "suffix": "x"})",
                  "suffix"},
        Malformed{"stop_number", R"({"model": "m", "prompt": [1], "stop": 1})",
                  "stop"},
        Malformed{"stop_empty",
                  R"({"model": "m", "prompt": [1], "stop": [""]})", "stop[0]"},
        Malformed{"stop_too_many",
                  R"({"model": "m", "prompt": [1],
                      "stop": ["a", "b", "c", "d", "e"]})",
                  "stop"},
        Malformed{"stop_not_string",
                  R"({"model": "m", "prompt": [1], "stop": ["a", 2]})",
                  "stop[1]"},
        Malformed{"stream_string",
                  R"({"model": "m", "prompt": [1], "stream": "yes"})",
                  "stream"},
        Malformed{"stream_options_without_stream",
                  R"({"model": "m", "prompt": [1],
                      "stream_options": {"include_usage": true}})",
                  "stream_options"},
        Malformed{"include_usage_string",
                  R"({"model": "m", "prompt": [1], "stream": true,
                      "stream_options": {"include_usage": "yes"}})",
                  "stream_options.include_usage"},
        Malformed{"negative_state_limit",
                  R"({"model": "m", "prompt": [1], "max_state_bytes": -1})",
                  "max_state_bytes"},
        Malformed{"invalid_utf8", "{\"model\": \"m\xff\", \"prompt\": [1]}",
                  "body"}),
    [](const ::testing::TestParamInfo<Malformed>& info) {
      return std::string(info.param.name);
    });

TEST(FieldOfMessageTest, NamesTheTextBeforeTheColon) {
  EXPECT_EQ(FieldOfMessage("prompt[2][0]: negative"), "prompt[2][0]");
  EXPECT_EQ(FieldOfMessage("the server is draining"), "");
  EXPECT_EQ(FieldOfMessage("no colon"), "");
}

}  // namespace
}  // namespace trilemma
