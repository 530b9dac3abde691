// HfConfig: typed reads of config.json with errors naming the file and key.
#include "engines/weights/hf_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPath[] = "DIR/config.json";

HfConfig ParseOrDie(const std::string& text) {
  absl::StatusOr<HfConfig> config = HfConfig::Parse(text, kPath);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : *HfConfig::Parse("{}", kPath);
}

std::string FinishMessage(const HfConfig& config) {
  absl::Status status = config.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string{status.message()};
}

TEST(HfConfig, ReadsEveryType) {
  HfConfig c = ParseOrDie(R"({
    "architectures": ["GPTNeoXForCausalLM"],
    "hidden_size": 768, "num_layers": 12.0, "rotary_pct": 0.25,
    "layer_norm_eps": 1e-5, "rope_theta": 10000,
    "use_parallel_residual": true, "hidden_act": "gelu",
    "torch_dtype": null, "unused": {"nested": [1, 2]}
  })");
  EXPECT_EQ(c.path(), kPath);
  EXPECT_THAT(c.StringList("architectures"), ElementsAre("GPTNeoXForCausalLM"));
  EXPECT_EQ(c.Int("hidden_size", 1, 1 << 20), 768);
  EXPECT_EQ(c.Int("num_layers", 1, 1000), 12);  // integral float accepted
  EXPECT_DOUBLE_EQ(c.Float("rotary_pct", 0, 1), 0.25);
  EXPECT_DOUBLE_EQ(c.FloatOr("layer_norm_eps", 1e-6, 0, 1), 1e-5);
  EXPECT_DOUBLE_EQ(c.Float("rope_theta", 1, 1e9), 10000.0);  // int as number
  EXPECT_TRUE(c.BoolOr("use_parallel_residual", false));
  EXPECT_EQ(c.StringOr("hidden_act", "relu"), "gelu");
  EXPECT_TRUE(c.Finish().ok()) << c.Finish();
}

TEST(HfConfig, AbsentAndNullGiveDefaults) {
  HfConfig c = ParseOrDie(R"({"torch_dtype": null, "eps": null})");
  EXPECT_FALSE(c.Has("torch_dtype"));
  EXPECT_FALSE(c.Has("missing"));
  EXPECT_EQ(c.IntOr("missing", 7, 0, 10), 7);
  EXPECT_EQ(c.IntOr("torch_dtype", 3, 0, 10), 3);
  EXPECT_DOUBLE_EQ(c.FloatOr("eps", 0.5, 0, 1), 0.5);
  EXPECT_TRUE(c.BoolOr("missing", true));
  EXPECT_EQ(c.StringOr("torch_dtype", "float32"), "float32");
  EXPECT_TRUE(c.Finish().ok());
}

TEST(HfConfig, HasSeesPresentValues) {
  HfConfig c = ParseOrDie(R"({"a": 0, "b": false, "c": ""})");
  EXPECT_TRUE(c.Has("a"));
  EXPECT_TRUE(c.Has("b"));
  EXPECT_TRUE(c.Has("c"));
}

TEST(HfConfig, IntOrIntListTakesAnIntegerOrAList) {
  HfConfig c =
      ParseOrDie(R"({"one": 64, "list": [64, 64.0, 128], "none": null})");
  EXPECT_THAT(c.IntOrIntList("one", 1, 1024), ElementsAre(64));
  EXPECT_THAT(c.IntOrIntList("list", 1, 1024), ElementsAre(64, 64, 128));
  EXPECT_TRUE(c.IntOrIntList("none", 1, 1024).empty());
  EXPECT_TRUE(c.IntOrIntList("absent", 1, 1024).empty());
  EXPECT_TRUE(c.Finish().ok()) << c.Finish();
}

TEST(HfConfig, IntOrIntListRejectsBadEntries) {
  for (const char* text : {R"({"v": [64, "x"]})", R"({"v": [64, 0]})",
                           R"({"v": []})", R"({"v": "64"})"}) {
    HfConfig c = ParseOrDie(text);
    EXPECT_TRUE(c.IntOrIntList("v", 1, 1024).empty()) << text;
    EXPECT_THAT(FinishMessage(c),
                HasSubstr("DIR/config.json: 'v' must be an integer or a "
                          "non-empty array of integers in [1, 1024]"))
        << text;
  }
}

TEST(HfConfig, OutOfRangeNamesFileAndKey) {
  HfConfig c = ParseOrDie(R"({"hidden_size": -3})");
  EXPECT_EQ(c.Int("hidden_size", 1, 1048576), 1);
  EXPECT_EQ(FinishMessage(c),
            "DIR/config.json: 'hidden_size' must be an integer in [1, "
            "1048576], got -3");
}

TEST(HfConfig, MissingRequiredKeys) {
  HfConfig c = ParseOrDie("{}");
  EXPECT_EQ(c.Int("hidden_size", 1, 100), 1);
  EXPECT_EQ(FinishMessage(c),
            "DIR/config.json: 'hidden_size' is missing (an integer in [1, "
            "100])");
  HfConfig f = ParseOrDie(R"({"rope_theta": null})");
  f.Float("rope_theta", 1, 1e9);
  EXPECT_THAT(FinishMessage(f), HasSubstr("'rope_theta' is missing"));
  HfConfig l = ParseOrDie("{}");
  EXPECT_TRUE(l.StringList("architectures").empty());
  EXPECT_EQ(FinishMessage(l),
            "DIR/config.json: 'architectures' is missing (an array of "
            "strings)");
}

TEST(HfConfig, WrongTypes) {
  struct Case {
    std::string json;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"({"k": "768"})", "'k' must be an integer in [0, 10], got \"768\""},
      {R"({"k": true})", "'k' must be an integer in [0, 10], got true"},
      {R"({"k": 2.5})", "'k' must be an integer in [0, 10], got 2.5"},
      {R"({"k": [1]})", "'k' must be an integer in [0, 10], got [1]"},
      {R"({"k": 1e300})", "'k' must be an integer in [0, 10], got 1e+300"},
      {R"({"k": 18446744073709551615})",
       "'k' must be an integer in [0, 10], got 18446744073709551615"},
  };
  for (const Case& c : cases) {
    HfConfig config = ParseOrDie(c.json);
    EXPECT_EQ(config.IntOr("k", 4, 0, 10), 4) << c.json;
    EXPECT_EQ(FinishMessage(config), std::string(kPath) + ": " + c.expected);
  }
  HfConfig f = ParseOrDie(R"({"eps": "1e-5"})");
  EXPECT_DOUBLE_EQ(f.FloatOr("eps", 0.5, 0, 1), 0.5);
  EXPECT_THAT(FinishMessage(f),
              HasSubstr("'eps' must be a number in [0, 1], got \"1e-5\""));
  HfConfig b = ParseOrDie(R"({"tie": 1})");
  EXPECT_FALSE(b.BoolOr("tie", false));
  EXPECT_THAT(FinishMessage(b),
              HasSubstr("'tie' must be true or false, got 1"));
  HfConfig s = ParseOrDie(R"({"act": 3})");
  EXPECT_EQ(s.StringOr("act", "gelu"), "gelu");
  EXPECT_THAT(FinishMessage(s), HasSubstr("'act' must be a string, got 3"));
  HfConfig l = ParseOrDie(R"({"architectures": ["A", 2]})");
  EXPECT_TRUE(l.StringList("architectures").empty());
  EXPECT_THAT(FinishMessage(l), HasSubstr("'architectures' must be an array "
                                          "of strings, got [\"A\",2]"));
  HfConfig l2 = ParseOrDie(R"({"architectures": "A"})");
  l2.StringList("architectures");
  EXPECT_THAT(FinishMessage(l2), HasSubstr("must be an array of strings"));
}

TEST(HfConfig, FloatRange) {
  HfConfig c = ParseOrDie(R"({"rotary_pct": 1.5})");
  EXPECT_DOUBLE_EQ(c.FloatOr("rotary_pct", 1.0, 0, 1), 1.0);
  EXPECT_EQ(FinishMessage(c),
            "DIR/config.json: 'rotary_pct' must be a number in [0, 1], got "
            "1.5");
}

TEST(HfConfig, FirstErrorWins) {
  HfConfig c = ParseOrDie(R"({"a": -1, "b": "x"})");
  c.IntOr("a", 1, 0, 5);
  c.StringOr("b", "");
  c.IntOr("b", 1, 0, 5);
  EXPECT_THAT(FinishMessage(c), HasSubstr("'a' must be an integer"));
}

TEST(HfConfig, CopiesKeepTheirOwnErrors) {
  HfConfig a = ParseOrDie(R"({"k": "x"})");
  HfConfig b = a;
  b.IntOr("k", 0, 0, 1);
  EXPECT_TRUE(a.Finish().ok());
  EXPECT_FALSE(b.Finish().ok());
  EXPECT_EQ(a.StringOr("k", ""), "x");
}

TEST(HfConfig, NotJsonOrNotObject) {
  absl::StatusOr<HfConfig> bad = HfConfig::Parse("{\"a\": 1,", kPath);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string{bad.status().message()},
              HasSubstr("DIR/config.json: not valid JSON"));
  absl::StatusOr<HfConfig> empty = HfConfig::Parse("", kPath);
  EXPECT_THAT(std::string{empty.status().message()},
              HasSubstr("DIR/config.json: not valid JSON"));
  absl::StatusOr<HfConfig> list = HfConfig::Parse("[1]", kPath);
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(list.status().message(),
            "DIR/config.json: expected a JSON object, got an array");
  absl::StatusOr<HfConfig> dup = HfConfig::Parse(R"({"a":1,"a":2})", kPath);
  EXPECT_EQ(dup.status().message(), "DIR/config.json: duplicate key 'a'");
  absl::StatusOr<HfConfig> deep = HfConfig::Parse(
      "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}", kPath);
  EXPECT_EQ(deep.status().message(),
            "DIR/config.json: nested deeper than 128 levels");
  absl::StatusOr<HfConfig> huge = HfConfig::Parse(R"({"a":1e999})", kPath);
  EXPECT_THAT(std::string{huge.status().message()},
              HasSubstr("DIR/config.json: not valid JSON"));
}

// Python's json module writes float('inf') as Infinity (transformers'
// Mamba2Config time_step_limit is [0.0, Infinity]).
TEST(HfConfig, PythonNonFiniteWords) {
  HfConfig c = ParseOrDie(R"({"time_step_limit": [0.0, Infinity],
    "lo": -Infinity, "x": NaN, "s": "Infinity \" NaN"})");
  EXPECT_THAT(c.FloatListOr("time_step_limit", {}), ElementsAre(0.0, 1e308));
  EXPECT_DOUBLE_EQ(c.FloatOr("lo", 0, -1e308, 1e308), -1e308);
  EXPECT_FALSE(c.Has("x"));
  EXPECT_EQ(c.StringOr("s", ""), "Infinity \" NaN");  // strings untouched
  EXPECT_THAT(c.FloatListOr("absent", {1, 2}), ElementsAre(1, 2));
  EXPECT_TRUE(c.Finish().ok()) << c.Finish();
  HfConfig bad = ParseOrDie(R"({"l": [0, "x"]})");
  EXPECT_THAT(bad.FloatListOr("l", {3}), ElementsAre(3));
  EXPECT_THAT(FinishMessage(bad), HasSubstr("must be an array of numbers"));
}

TEST(HfConfig, TooManyValues) {
  std::string wide = "[0";
  for (int i = 0; i < 1'000'000; ++i) wide += ",0";
  absl::StatusOr<HfConfig> many = HfConfig::Parse(wide + "]", kPath);
  EXPECT_EQ(many.status().message(),
            "DIR/config.json: more than 1000000 JSON values");
  // One value fewer is parsed (and refused only for not being an object).
  wide.resize(wide.size() - 4);
  absl::StatusOr<HfConfig> most = HfConfig::Parse(wide + "]", kPath);
  EXPECT_EQ(most.status().message(),
            "DIR/config.json: expected a JSON object, got an array");
}

}  // namespace
}  // namespace trilemma
