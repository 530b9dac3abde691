// The reply side of /v1/completions: stop strings over streamed text, token
// IDs as text, error statuses and bodies, and the chunk/usage JSON.
#include "server/http/completion_response.h"

#include <string>

#include "gtest/gtest.h"

namespace trilemma {
namespace {

TEST(ChoiceTextTest, WithoutStopEverythingIsSentAtOnce) {
  ChoiceText text({});
  EXPECT_FALSE(text.Append("17"));
  EXPECT_EQ(text.Take(false), "17");
  EXPECT_FALSE(text.Append(" 42"));
  EXPECT_EQ(text.Take(false), " 42");
  EXPECT_EQ(text.Take(true), "");
}

TEST(ChoiceTextTest, HoldsBackWhatCouldStartAStopString) {
  ChoiceText text({" 99 1"});
  EXPECT_FALSE(text.Append("5 99 88"));
  // The last 4 bytes (the stop's length - 1) could begin " 99 1".
  EXPECT_EQ(text.Take(false), "5 9");
  EXPECT_TRUE(text.Append(" 99 12"));  // "5 99 88 99 12" holds " 99 1"
  EXPECT_TRUE(text.stopped());
  EXPECT_EQ(text.text(), "5 99 88");
  EXPECT_EQ(text.Take(false), "9 88");
}

TEST(ChoiceTextTest, StopSpanningPiecesIsFoundAndCut) {
  ChoiceText text({"ab"});
  EXPECT_FALSE(text.Append("xa"));
  EXPECT_EQ(text.Take(false), "x");
  EXPECT_TRUE(text.Append("bc"));
  EXPECT_EQ(text.text(), "x");
  EXPECT_EQ(text.Take(true), "");
  EXPECT_TRUE(text.Append("more"));  // nothing is added after a stop
  EXPECT_EQ(text.text(), "x");
}

TEST(ChoiceTextTest, EarliestOfSeveralStopsWins) {
  ChoiceText text({"c", "b"});
  EXPECT_TRUE(text.Append("abc"));
  EXPECT_EQ(text.text(), "a");
}

TEST(TokenIdPieceTest, SpaceSeparatedDecimalIds) {
  EXPECT_EQ(TokenIdPiece(4100, 0), "4100");
  EXPECT_EQ(TokenIdPiece(7, 1), " 7");
}

TEST(HttpErrorTest, StatusCodesMapToHttpStatuses) {
  EXPECT_EQ(
      HttpErrorFor(absl::InvalidArgumentError("max_tokens: bad")).http_status,
      400);
  EXPECT_EQ(HttpErrorFor(absl::NotFoundError("model: x")).http_status, 404);
  EXPECT_EQ(
      HttpErrorFor(absl::ResourceExhaustedError("--max_waiting")).http_status,
      429);
  EXPECT_EQ(HttpErrorFor(absl::FailedPreconditionError("budget")).http_status,
            400);
  EXPECT_EQ(HttpErrorFor(absl::UnavailableError("draining")).http_status, 503);
  EXPECT_EQ(HttpErrorFor(absl::UnauthenticatedError("token")).http_status, 401);
  EXPECT_EQ(HttpErrorFor(absl::DeadlineExceededError("late")).http_status, 504);
  EXPECT_EQ(HttpErrorFor(absl::InternalError("bug")).http_status, 500);
}

TEST(HttpErrorTest, BodyIsOpenAiShapedWithTheParam) {
  const HttpError error = HttpErrorFor(
      absl::InvalidArgumentError("temperature: must be in [0, 2]"));
  ASSERT_TRUE(error.body.contains("error"));
  const nlohmann::json& e = error.body["error"];
  EXPECT_EQ(e["message"], "temperature: must be in [0, 2]");
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["param"], "temperature");
  EXPECT_EQ(e["code"], "invalid_value");
}

TEST(ResponseJsonTest, ChunksUsageAndExtension) {
  const CompletionMeta meta{"cmpl-1", 1700000000, "attention"};
  const nlohmann::json chunk = StreamChunk(meta, 0, " 42", std::nullopt);
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_EQ(chunk["choices"][0]["text"], " 42");
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(SseData(chunk).rfind("data: {", 0), 0u);
  EXPECT_EQ(SseData(chunk).substr(SseData(chunk).size() - 2), "\n\n");

  ChoiceEnd end;
  end.summary.set_prompt_tokens(5);
  end.summary.set_total_flops(1000);
  end.summary.set_peak_state_bytes(4096);
  end.summary.set_finish_reason(v1::STATE_LIMIT);
  end.completion_tokens = 3;
  const nlohmann::json usage = UsageChunk(meta, {end});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 3);
  EXPECT_EQ(usage["usage"]["total_tokens"], 8);
  EXPECT_EQ(usage["trilemma"]["flops"], 1000);
  EXPECT_EQ(usage["trilemma"]["peak_state_bytes"], 4096);
  EXPECT_EQ(usage["trilemma"]["choices"][0]["finish_reason"], "STATE_LIMIT");
  EXPECT_EQ(FinishReason(end), "length");
  end.stopped = true;
  EXPECT_EQ(FinishReason(end), "stop");
}

}  // namespace
}  // namespace trilemma
