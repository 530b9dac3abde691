// Flag parsing and validation of the client: every error names the flag.
#include "client/common/flag_parsing.h"

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands/generate.h"
#include "client/commands/recall.h"
#include "client/common/channel.h"
#include "client/common/command.h"
#include "client/common/engine_selection.h"
#include "client/common/shared_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, engine);
ABSL_DECLARE_FLAG(std::string, prompt);
ABSL_DECLARE_FLAG(int32_t, max_new_tokens);
ABSL_DECLARE_FLAG(float, temperature);
ABSL_DECLARE_FLAG(float, top_p);

namespace trilemma::client {
namespace {

using ::testing::ElementsAre;

MATCHER_P(InvalidArgumentWith, text, "") {
  return arg.status().code() == absl::StatusCode::kInvalidArgument &&
         absl::StrContains(arg.status().message(), text);
}

TEST(ParseTokenListTest, SpacesAndCommas) {
  absl::StatusOr<std::vector<int32_t>> tokens =
      ParseTokenList("--prompt", " 3 17,42  ,7 ");
  ASSERT_TRUE(tokens.ok());
  EXPECT_THAT(*tokens, ElementsAre(3, 17, 42, 7));
}

TEST(ParseTokenListTest, ErrorsNameFlagAndPosition) {
  EXPECT_THAT(ParseTokenList("--prompt", "3 x 5"),
              InvalidArgumentWith("--prompt[1]: 'x' is not a token id"));
  EXPECT_THAT(ParseTokenList("--prompt", "3 -4"),
              InvalidArgumentWith("--prompt[1]: token -4 is negative"));
  EXPECT_THAT(ParseTokenList("--prompt", "99999999999"),
              InvalidArgumentWith("--prompt[0]"));
  EXPECT_THAT(ParseTokenList("--prompt", "  "),
              InvalidArgumentWith("--prompt: no token ids"));
}

TEST(ParseIntListTest, ParsesAndChecksRangeAndDuplicates) {
  absl::StatusOr<std::vector<int64_t>> pairs =
      ParseIntList("--pairs", "16, 64,256", 1, 1000);
  ASSERT_TRUE(pairs.ok());
  EXPECT_THAT(*pairs, ElementsAre(16, 64, 256));
  EXPECT_THAT(ParseIntList("--pairs", "16,x", 1, 1000),
              InvalidArgumentWith("--pairs[1]: 'x' is not an integer"));
  EXPECT_THAT(ParseIntList("--pairs", "0", 1, 1000),
              InvalidArgumentWith("--pairs[0]: 0 not in [1, 1000]"));
  EXPECT_THAT(ParseIntList("--pairs", "16,16", 1, 1000),
              InvalidArgumentWith("listed twice"));
  EXPECT_THAT(ParseIntList("--pairs", "16,", 1, 1000),
              InvalidArgumentWith("--pairs[1]: '' is not an integer"));
}

TEST(ParseNameListTest, ParsesAndRejectsEmptyOrDuplicate) {
  absl::StatusOr<std::vector<std::string>> names =
      ParseNameList("--engines", "attention, mamba");
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("attention", "mamba"));
  EXPECT_THAT(ParseNameList("--engines", "a,,b"),
              InvalidArgumentWith("--engines[1]: empty name"));
  EXPECT_THAT(ParseNameList("--engines", "a,a"),
              InvalidArgumentWith("'a' is listed twice"));
}

TEST(ParseOutputFormatTest, TableJsonOrError) {
  EXPECT_EQ(*ParseOutputFormat("--format", "table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("--format", "json"), OutputFormat::kJson);
  EXPECT_THAT(ParseOutputFormat("--format", "xml"),
              InvalidArgumentWith("--format: 'xml' is not one of table|json"));
}

TEST(TargetUriTest, SingleTargetsAndUrisPassThrough) {
  EXPECT_EQ(*TargetUri("127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_EQ(*TargetUri("trilemma:50051"), "trilemma:50051");
  EXPECT_EQ(*TargetUri("dns:///trilemma.svc:50051"),
            "dns:///trilemma.svc:50051");
  EXPECT_EQ(*TargetUri("unix:/tmp/trilemma.sock"), "unix:/tmp/trilemma.sock");
}

TEST(TargetUriTest, ListsBecomeAddressListUris) {
  EXPECT_EQ(*TargetUri("10.0.0.1:50051, 10.0.0.2:50052"),
            "ipv4:10.0.0.1:50051,10.0.0.2:50052");
  EXPECT_EQ(*TargetUri("[::1]:50051,[fe80::1]:50051"),
            "ipv6:[::1]:50051,[fe80::1]:50051");
}

TEST(TargetUriTest, MalformedListsNameTheEntry) {
  EXPECT_THAT(TargetUri(""), InvalidArgumentWith("--target: empty"));
  EXPECT_THAT(
      TargetUri("10.0.0.1:50051,10.0.0.2"),
      InvalidArgumentWith("--target[1] '10.0.0.2': expected host:port"));
  EXPECT_THAT(TargetUri("10.0.0.1:50051,10.0.0.2:99999"),
              InvalidArgumentWith("port '99999' not in [1, 65535]"));
  EXPECT_THAT(TargetUri("10.0.0.1:1,[::1]:2"),
              InvalidArgumentWith("cannot mix IPv4 and IPv6"));
  EXPECT_THAT(TargetUri("10.0.0.1:1,"), InvalidArgumentWith("--target[1]"));
}

TEST(GenerateFlagsTest, BuildsRequest) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_engine, "attention");
  absl::SetFlag(&FLAGS_prompt, "3 17 42");
  absl::SetFlag(&FLAGS_max_new_tokens, 4);
  absl::SetFlag(&FLAGS_seed, std::optional<uint64_t>(9));
  absl::StatusOr<v1::GenerateRequest> request = GenerateRequestFromFlags();
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->engine(), "attention");
  EXPECT_THAT(request->prompt(), ElementsAre(3, 17, 42));
  EXPECT_EQ(request->max_new_tokens(), 4);
  EXPECT_EQ(request->sampling().seed(), 9u);
  EXPECT_EQ(request->sampling().top_p(), 1.0f);
  absl::SetFlag(&FLAGS_top_p, 0.25f);
  request = GenerateRequestFromFlags();
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->sampling().top_p(), 0.25f);
}

TEST(GenerateFlagsTest, RejectsMissingOrOutOfRangeFlags) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_prompt, "1");
  EXPECT_THAT(GenerateRequestFromFlags(), InvalidArgumentWith("--engine"));
  absl::SetFlag(&FLAGS_engine, "attention");
  absl::SetFlag(&FLAGS_prompt, "");
  EXPECT_THAT(GenerateRequestFromFlags(), InvalidArgumentWith("--prompt"));
  absl::SetFlag(&FLAGS_prompt, "1 2");
  absl::SetFlag(&FLAGS_max_new_tokens, 0);
  EXPECT_THAT(GenerateRequestFromFlags(),
              InvalidArgumentWith("--max_new_tokens: 0 not in [1, 65536]"));
  absl::SetFlag(&FLAGS_max_new_tokens, 1);
  absl::SetFlag(&FLAGS_temperature, -1.0f);
  EXPECT_THAT(GenerateRequestFromFlags(), InvalidArgumentWith("--temperature"));
  absl::SetFlag(&FLAGS_temperature, 1.0f);
  for (float bad : {0.0f, -0.5f, 1.5f}) {
    absl::SetFlag(&FLAGS_top_p, bad);
    EXPECT_THAT(GenerateRequestFromFlags(),
                InvalidArgumentWith("--top_p: " + absl::StrCat(bad)));
  }
}

TEST(RecallFlagsTest, DefaultsAndSeeds) {
  absl::FlagSaver saver;
  absl::StatusOr<RecallOptions> options = RecallOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->engines.empty());  // "all"
  EXPECT_THAT(options->pairs, ElementsAre(16, 64, 256, 1024));
  EXPECT_EQ(options->queries, 64);
  EXPECT_EQ(options->format, OutputFormat::kTable);

  absl::SetFlag(&FLAGS_seed, std::optional<uint64_t>(123));
  absl::SetFlag(&FLAGS_engines, "attention,mamba");
  absl::SetFlag(&FLAGS_format, "json");
  options = RecallOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->seed, 123u);
  EXPECT_THAT(options->engines, ElementsAre("attention", "mamba"));
  EXPECT_EQ(options->format, OutputFormat::kJson);
}

TEST(RecallFlagsTest, RejectsBadFlags) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_pairs, "16,abc");
  EXPECT_THAT(RecallOptionsFromFlags(), InvalidArgumentWith("--pairs[1]"));
  absl::SetFlag(&FLAGS_pairs, "16");
  absl::SetFlag(&FLAGS_queries, 0);
  EXPECT_THAT(RecallOptionsFromFlags(), InvalidArgumentWith("--queries: 0"));
  absl::SetFlag(&FLAGS_queries, 8);
  absl::SetFlag(&FLAGS_format, "yaml");
  EXPECT_THAT(RecallOptionsFromFlags(), InvalidArgumentWith("--format"));
}

TEST(SelectEnginesTest, AllInServerOrderOrByNameElseError) {
  v1::ListEnginesResponse hosted;
  hosted.add_engines()->set_name("attention");
  hosted.add_engines()->set_name("sliding_window");
  hosted.add_engines()->set_name("mamba");
  absl::StatusOr<std::vector<v1::EngineInfo>> all = SelectEngines(hosted, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].name(), "mamba");
  absl::StatusOr<std::vector<v1::EngineInfo>> some =
      SelectEngines(hosted, {"mamba", "attention"});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ((*some)[0].name(), "mamba");
  EXPECT_EQ((*some)[1].name(), "attention");
  EXPECT_THAT(SelectEngines(hosted, {"rwkv"}),
              InvalidArgumentWith("no engine 'rwkv' (hosted: attention, "
                                  "sliding_window, mamba)"));
}

}  // namespace
}  // namespace trilemma::client
