// Recall and triangle placement of the linear_attention, delta_net and hybrid
// presets at their defaults (d_model 128, vocab 8192), on MQAR (see
// tests/common/mqar_recall.h), plus the hybrid's trajectory through the
// triangle as its attention fraction moves. The conformance suite
// (tests/engines) checks the Engine contract; these check what the presets are
// for:
//   - every compact preset falls far below attention once N ≫ its state;
//   - taylor2 features (d_φ = 560) hold more pairs than identity (d_φ = 128);
//   - the delta rule (β = 1) holds about d_k writes (N ≈ d_k / 2 pairs);
//   - hybrid_based recalls at least what its linear part does;
//   - hybrid_jamba recalls like attention, and like its recurrent layers when
//     attention_fraction = 0;
//   - jamba's state per token and its FLOPs slope grow with the number of
//     attention layers, and vanish without them.
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/registry.h"
#include "gtest/gtest.h"
#include "tests/common/mqar_recall.h"

namespace trilemma {
namespace {

constexpr int kQueries = 100;
constexpr uint64_t kSeed = 7;

std::unique_ptr<Engine> Make(const std::string& family,
                             std::map<std::string, std::string> knobs = {}) {
  EngineSpec spec;
  spec.family = family;
  spec.name = absl::StrCat(
      family, " {", absl::StrJoin(knobs, ", ", absl::PairFormatter("=")), "}");
  spec.knobs = std::move(knobs);
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(spec);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

double Recall(const Engine& engine, int pairs) {
  absl::StatusOr<testing::MqarRecallResult> result =
      testing::MeasureMqarRecall(engine, pairs, kQueries, kSeed);
  EXPECT_TRUE(result.ok()) << result.status();
  const double recall = result.ok() ? result->recall : -1;
  std::cout << engine.info().name() << " N=" << pairs << " recall=" << recall
            << "\n";
  return recall;
}

TEST(LinearAttentionRecall, IdentityHoldsAboutDPairsThenFalls) {
  std::unique_ptr<Engine> e = Make("linear_attention");
  ASSERT_NE(e, nullptr);
  EXPECT_GE(Recall(*e, 64), 0.9);
  EXPECT_LE(Recall(*e, 1024), 0.3);
}

TEST(LinearAttentionRecall, Taylor2HoldsMoreThanIdentity) {
  std::unique_ptr<Engine> identity = Make("linear_attention");
  std::unique_ptr<Engine> taylor2 =
      Make("linear_attention", {{"feature", "taylor2"}});
  ASSERT_NE(identity, nullptr);
  ASSERT_NE(taylor2, nullptr);
  EXPECT_GT(taylor2->info().state_bytes_fixed(),
            identity->info().state_bytes_fixed());
  const double t2 = Recall(*taylor2, 256);
  EXPECT_GE(t2, 0.8);
  EXPECT_GE(t2, Recall(*identity, 256) + 0.15);
  EXPECT_LE(Recall(*taylor2, 1024), 0.6);
}

TEST(DeltaNetRecall, HoldsAboutDkWritesThenFalls) {
  std::unique_ptr<Engine> e = Make("delta_net");
  ASSERT_NE(e, nullptr);
  EXPECT_GE(Recall(*e, 32), 0.9);
  EXPECT_LE(Recall(*e, 256), 0.3);
  EXPECT_LE(Recall(*e, 1024), 0.1);
}

TEST(HybridRecall, BasedRecallsAtLeastItsLinearPart) {
  std::unique_ptr<Engine> based = Make("hybrid", {{"shape", "based"}});
  std::unique_ptr<Engine> linear =
      Make("linear_attention", {{"feature", "taylor2"}});
  ASSERT_NE(based, nullptr);
  ASSERT_NE(linear, nullptr);
  EXPECT_GE(Recall(*based, 256), Recall(*linear, 256) - 0.05);
  EXPECT_LE(Recall(*based, 1024), 0.6);
}

TEST(HybridRecall, JambaRecallsThroughAttentionOrItsRecurrentLayers) {
  std::unique_ptr<Engine> jamba = Make("hybrid", {{"shape", "jamba"}});
  std::unique_ptr<Engine> recurrent =
      Make("hybrid", {{"shape", "jamba"}, {"attention_fraction", "0"}});
  ASSERT_NE(jamba, nullptr);
  ASSERT_NE(recurrent, nullptr);
  EXPECT_GE(Recall(*jamba, 1024), 0.95);
  EXPECT_LE(Recall(*recurrent, 1024), 0.1);
  EXPECT_TRUE(jamba->info().corners().recall());
  EXPECT_FALSE(jamba->info().corners().compact());
  EXPECT_TRUE(recurrent->info().corners().compact());
}

// FLOPs of the next step after `tokens` tokens.
int64_t FlopsAfter(const Engine& engine, int tokens) {
  auto session = engine.NewSession();
  EXPECT_TRUE(session.ok()) << session.status();
  if (!session.ok()) return -1;
  std::vector<int32_t> prompt(tokens, 1);
  EXPECT_TRUE((*session)->Reserve(tokens).ok());
  EXPECT_TRUE(engine.Prefill(session->get(), prompt, nullptr).ok());
  return engine.NextStepCost(**session).flops;
}

TEST(HybridTrajectory, JambaStateAndComputeGrowWithItsAttentionLayers) {
  const std::map<std::string, int> attention_layers = {
      {"0", 0}, {"0.25", 1}, {"0.5", 2}, {"1", 4}};
  const int d = 32;
  for (const auto& [rho, layers] : attention_layers) {
    SCOPED_TRACE(absl::StrCat("attention_fraction=", rho));
    std::unique_ptr<Engine> e = Make("hybrid", {{"shape", "jamba"},
                                                {"attention_fraction", rho},
                                                {"d_model", absl::StrCat(d)},
                                                {"vocab", "64"}});
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->info().state_bytes_per_token(), int64_t{layers} * 2 * d * 4);
    // Each attention layer adds 4·d FLOPs per context token (q·k and p·v).
    EXPECT_EQ(FlopsAfter(*e, 40) - FlopsAfter(*e, 20),
              int64_t{layers} * 4 * d * 20);
  }
}

TEST(HybridTrajectory, BasedStopsGrowingAtItsWindow) {
  std::unique_ptr<Engine> e = Make("hybrid", {{"shape", "based"},
                                              {"window", "8"},
                                              {"d_model", "32"},
                                              {"vocab", "64"},
                                              {"block_tokens", "4"}});
  ASSERT_NE(e, nullptr);
  EXPECT_GT(FlopsAfter(*e, 7), FlopsAfter(*e, 3));
  EXPECT_EQ(FlopsAfter(*e, 40), FlopsAfter(*e, 8));
  EXPECT_GT(e->info().state_bytes_cap(), e->info().state_bytes_fixed());
}

}  // namespace
}  // namespace trilemma
