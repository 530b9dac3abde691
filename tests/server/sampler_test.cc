#include "server/sampler.h"

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

v1::Sampling MakeSampling(float temperature, int32_t top_k, uint64_t seed) {
  v1::Sampling s;
  s.set_temperature(temperature);
  s.set_top_k(top_k);
  s.set_seed(seed);
  return s;
}

TEST(SamplerTest, GreedyIsArgmaxWithLowestIndexOnTies) {
  Sampler sampler;
  EXPECT_TRUE(sampler.greedy());
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, 2.0f, -1.0f, 2.0f}), 1);
  EXPECT_EQ(Argmax(std::vector<float>{-3.0f, -2.0f}), 1);
}

TEST(SamplerTest, ArgmaxMatchesAPlainScanAtEverySizeAndTie) {
  // The lane-parallel Argmax against the obvious loop: sizes around the
  // lane width and a real vocabulary, coarse values so ties are common,
  // the maximum at either end, and NaNs (which never win).
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> coarse(-4, 4);
  for (size_t n : {1u, 2u, 15u, 16u, 17u, 31u, 33u, 100u, 8192u}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> x(n);
      for (float& v : x) v = static_cast<float>(coarse(rng));
      if (trial % 5 == 1) x.back() = 9.0f;
      if (trial % 5 == 2) x.front() = 9.0f;
      if (trial % 5 == 3) x[n / 2] = std::numeric_limits<float>::quiet_NaN();
      int32_t want = -1;
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) continue;
        if (want < 0 || x[i] > x[want]) want = static_cast<int32_t>(i);
      }
      ASSERT_EQ(Argmax(x), std::max(want, 0))
          << "n " << n << " trial " << trial;
    }
  }
}

TEST(SamplerTest, TopKOneIsGreedyAtAnyTemperature) {
  Sampler sampler(MakeSampling(50.0f, 1, 9));
  EXPECT_FALSE(sampler.greedy());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 0.5f, 0.4f}), 1);
  }
}

TEST(SamplerTest, SamplesOnlyAmongTopK) {
  Sampler sampler(MakeSampling(100.0f, 3, 1));
  std::vector<float> logits = {5.0f, 0.0f, 4.0f, 0.0f, 3.0f, 0.0f, 2.9f};
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sampler.Sample(logits));
  EXPECT_EQ(seen, (std::set<int32_t>{0, 2, 4}));  // all three, nothing else
}

TEST(SamplerTest, SameSeedSameTokensOtherSeedOtherTokens) {
  std::vector<float> logits(64);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.01f * i;
  auto draw = [&](uint64_t seed) {
    Sampler sampler(MakeSampling(1.0f, 0, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 32; ++i) out.push_back(sampler.Sample(logits));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(SamplerTest, LowTemperatureConcentratesOnTheMaximum) {
  Sampler sampler(MakeSampling(0.01f, 0, 3));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 3.0f, 2.0f}), 1);
  }
}

TEST(SamplerTest, ValidationNamesTheField) {
  EXPECT_TRUE(ValidateSampling(MakeSampling(0, 0, 0), "sampling").ok());
  EXPECT_TRUE(ValidateSampling(MakeSampling(100, 5, 0), "sampling").ok());
  absl::Status s = ValidateSampling(MakeSampling(-1, 0, 0), "sampling");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sampling.temperature"));
  s = ValidateSampling(MakeSampling(100.5f, 0, 0), "generate.sampling");
  EXPECT_THAT(s.message(), HasSubstr("generate.sampling.temperature"));
  s = ValidateSampling(MakeSampling(std::nanf(""), 0, 0), "sampling");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = ValidateSampling(MakeSampling(1, -2, 0), "sampling");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sampling.top_k"));
}

}  // namespace
}  // namespace trilemma
