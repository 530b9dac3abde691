// Which engines a server hosts: default presets, --engines, --config.
#include "server/engine_host.h"

#include <fstream>
#include <string>
#include <vector>

#include "engines/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "tests/expected_engines.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

EngineHostOptions Options(std::string engines, std::string config = "",
                          int64_t budget = int64_t{1} << 30) {
  EngineHostOptions options;
  options.engines = std::move(engines);
  options.config_path = std::move(config);
  options.default_budget_bytes = budget;
  return options;
}

std::vector<std::string> Names(const std::vector<EngineSpec>& specs) {
  std::vector<std::string> names;
  for (const EngineSpec& s : specs) names.push_back(s.name);
  return names;
}

TEST(EngineHostTest, DefaultsAreTheVisiblePresetsWithTheDefaultBudget) {
  const auto specs = ResolveEngineSpecs(Options("", "", 12345));
  ASSERT_TRUE(specs.ok()) << specs.status();
  // A fixed list, not DefaultEngineSpecs() (which the code under test uses).
  EXPECT_THAT(Names(*specs),
              ::testing::ElementsAreArray(testing::kExpectedDefaultPresets));
  for (const EngineSpec& s : *specs) EXPECT_EQ(s.state_budget_bytes, 12345);
}

TEST(EngineHostTest, EnginesFlagSelectsByNameInTheGivenOrder) {
  const auto specs = ResolveEngineSpecs(Options("sliding_window, attention"));
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_EQ(Names(*specs),
            (std::vector<std::string>{"sliding_window", "attention"}));
  const auto unknown = ResolveEngineSpecs(Options("attention,nope"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("engines: no engine named 'nope'"));
  const auto twice = ResolveEngineSpecs(Options("attention,attention"));
  EXPECT_THAT(twice.status().message(), HasSubstr("hosted twice"));
  EXPECT_FALSE(ResolveEngineSpecs(Options("", "", 0)).ok());
}

TEST(EngineHostTest, ConfigListsEnginesWithKnobsAndBudgets) {
  const auto specs = ParseServerConfig(
      R"pb(
        engines {
          name: "sw64"
          family: "sliding_window"
          knobs { key: "window" value: "64" }
        }
        engines { family: "attention" state_budget_bytes: 4096 }
      )pb",
      777);
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].name, "sw64");
  EXPECT_EQ((*specs)[0].knobs.at("window"), "64");
  EXPECT_EQ((*specs)[0].state_budget_bytes, 777);
  EXPECT_EQ((*specs)[1].name, "attention");  // defaults to the family
  EXPECT_EQ((*specs)[1].state_budget_bytes, 4096);

  auto bad = ParseServerConfig("engines { nme: 'x' }", 1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("line 1"));
  bad = ParseServerConfig("engines { name: 'x' }", 1);
  EXPECT_THAT(bad.status().message(), HasSubstr("config.engines[0].family"));
  bad = ParseServerConfig("", 1);
  EXPECT_THAT(bad.status().message(), HasSubstr("config.engines"));
}

TEST(EngineHostTest, ConfigFileIsReadAndFiltered) {
  const std::string path = ::testing::TempDir() + "/engines.textproto";
  std::ofstream(path) << "engines { name: 'a' family: 'attention' }\n"
                         "engines { name: 'b' family: 'sliding_window' }\n";
  auto specs = ResolveEngineSpecs(Options("b", path));
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_EQ(Names(*specs), std::vector<std::string>{"b"});
  EXPECT_EQ(ResolveEngineSpecs(Options("", path + ".missing")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EngineHostTest, CreateHostsEachEngineWithItsScheduler) {
  ServerMetrics metrics;
  auto host = EngineHost::Create({testing::SmallSpec("a", "attention"),
                                  testing::SmallSpec("w", "sliding_window")},
                                 &metrics, {});
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ((*host)->NameList(), "a, w");
  ASSERT_NE((*host)->Find("w"), nullptr);
  EXPECT_EQ((*host)->Find("w")->engine().info().family(), "sliding_window");
  EXPECT_EQ((*host)->Find("x"), nullptr);
  EXPECT_TRUE((*host)->Idle());

  // A factory error names the engine and passes its code through.
  auto bad = EngineHost::Create(
      {testing::SmallSpec("bad", "attention", 1 << 20, {{"bogus", "1"}})},
      &metrics, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("engine 'bad'"));
}

}  // namespace
}  // namespace trilemma
