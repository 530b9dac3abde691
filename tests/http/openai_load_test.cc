// The client side of --api=openai: target parsing, token-ID text, the text
// workloads (passkey, phonebook) and their scoring.
#include <string>

#include "absl/strings/match.h"
#include "client/load/openai_client.h"
#include "client/load/text_workload.h"
#include "client/load/workload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma::client {
namespace {

using ::testing::ElementsAre;

TEST(OpenAiTargetTest, AcceptsHttpAndHttpsBaseUrls) {
  absl::StatusOr<OpenAiTarget> t = ParseOpenAiTarget("http://h:8000/v1", "");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->base_url, "http://h:8000");
  t = ParseOpenAiTarget("https://10.0.0.5:443/", "key");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->base_url, "https://10.0.0.5:443");
  EXPECT_EQ(t->api_key, "key");
  for (const char* bad :
       {"127.0.0.1:8000", "ftp://h:1", "http://", "http://h/x/y"}) {
    EXPECT_EQ(ParseOpenAiTarget(bad, "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(TokenIdTextTest, ParsesOnlySpaceSeparatedIds) {
  EXPECT_THAT(*ParseTokenIdText("4100 5 17"), ElementsAre(4100, 5, 17));
  EXPECT_FALSE(ParseTokenIdText("4100  5").has_value());
  EXPECT_FALSE(ParseTokenIdText("forty").has_value());
  EXPECT_FALSE(ParseTokenIdText("-3").has_value());
}

TEST(HttpStatusTest, MapsToStatusCodes) {
  EXPECT_EQ(CodeForHttpStatus(200), absl::StatusCode::kOk);
  EXPECT_EQ(CodeForHttpStatus(429), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeForHttpStatus(503), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeForHttpStatus(413), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeForHttpStatus(404), absl::StatusCode::kNotFound);
}

TEST(TextWorkloadTest, PasskeyHidesTheKeyAtTheDepth) {
  const TextPlan start = MakePasskeyPlan(2000, 0.0, 7);
  const TextPlan end = MakePasskeyPlan(2000, 1.0, 7);
  EXPECT_EQ(start.expected.size(), 5u);
  EXPECT_EQ(start.expected, end.expected);  // same seed, same key
  const std::string needle = "The pass key is " + start.expected + ".";
  EXPECT_LT(start.prompt.find(needle), end.prompt.find(needle));
  EXPECT_TRUE(absl::EndsWith(start.prompt, "The pass key is"));
  EXPECT_GT(start.prompt.size(), 2000u * 4);
  EXPECT_EQ(MakePasskeyPlan(2000, 0.5, 7).prompt,
            MakePasskeyPlan(2000, 0.5, 7).prompt);
}

TEST(TextWorkloadTest, PhonebookAsksAListedName) {
  const TextPlan plan = MakePhonebookPlan(32, 11);
  EXPECT_EQ(plan.expected.size(), 10u);
  const std::string dashed = plan.expected.substr(0, 3) + "-" +
                             plan.expected.substr(3, 3) + "-" +
                             plan.expected.substr(6);
  EXPECT_NE(plan.prompt.find(dashed), std::string::npos);
  const size_t question = plan.prompt.find("What is the phone number of ");
  ASSERT_NE(question, std::string::npos);
  const std::string name = plan.prompt.substr(
      question + 28, plan.prompt.find('?', question) - question - 28);
  EXPECT_NE(plan.prompt.find(name + ": " + dashed), std::string::npos);
}

TEST(TextWorkloadTest, ScoringReadsTheFirstNumber) {
  EXPECT_TRUE(ScoreTextAnswer(" 68217. Remember it.", "68217"));
  EXPECT_TRUE(ScoreTextAnswer("555-123-4567\n", "5551234567"));
  EXPECT_FALSE(ScoreTextAnswer(" 68218", "68217"));
  EXPECT_FALSE(ScoreTextAnswer(" 68217 68217", "6821768217"));
  EXPECT_FALSE(ScoreTextAnswer("I do not know", "68217"));
}

TEST(TextWorkloadTest, PlanRequestBuildsTextPlans) {
  absl::StatusOr<WorkloadMix> mix = ParseWorkloadMix("--workload", "phonebook");
  ASSERT_TRUE(mix.ok()) << mix.status();
  WorkloadOptions options;
  options.mix = *mix;
  options.entries = {8};
  absl::StatusOr<RequestPlan> plan = PlanRequest(options, 0, 3);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kind, WorkloadKind::kPhonebook);
  ASSERT_TRUE(plan->text.has_value());
  ASSERT_EQ(plan->turns.size(), 1u);
  EXPECT_EQ(plan->turns[0].max_new_tokens, plan->text->max_tokens);
  EXPECT_STREQ(WorkloadName(WorkloadKind::kPasskey), "passkey");
}

}  // namespace
}  // namespace trilemma::client
