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

// Pearson's chi-square statistic of `draws` samples from `sampler` against
// softmax(logits / temperature) restricted to `support` (the ids a top_k
// keeps; all ids when empty). A draw outside the support counts as +inf.
double ChiSquare(Sampler& sampler, const std::vector<float>& logits,
                 double temperature, const std::vector<int32_t>& support,
                 int draws) {
  std::vector<int32_t> ids = support;
  if (ids.empty()) {
    for (size_t i = 0; i < logits.size(); ++i) {
      ids.push_back(static_cast<int32_t>(i));
    }
  }
  double total = 0;
  std::vector<double> p(logits.size(), 0.0);
  for (int32_t id : ids) total += std::exp(logits[id] / temperature);
  for (int32_t id : ids) p[id] = std::exp(logits[id] / temperature) / total;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(logits)];
  double chi2 = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (p[i] == 0) {
      if (counts[i] > 0) return std::numeric_limits<double>::infinity();
      continue;
    }
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

// Chi-square goodness of fit of the sampled tokens against the softmax they
// should follow, at T = 1 and at a moderate T, with and without top_k. The
// critical values are the 0.999 quantiles for the degrees of freedom (one
// less than the categories), so a correct sampler fails with probability
// 0.001 per check for a random seed; the seeds are fixed, so the outcome
// is deterministic. Each wrong distribution below is far past the bound
// (ignoring the temperature, sampling uniformly, off-by-one in the
// cumulative walk).
TEST(SamplerTest, SampledFrequenciesFollowTheTemperedSoftmax) {
  // Eight categories with probabilities from ~0.01 to ~0.4 at T = 1.
  const std::vector<float> logits = {0.0f, 1.5f, -0.5f, 1.0f,
                                     2.0f, 0.3f, -1.2f, 0.8f};
  constexpr int kDraws = 40000;
  constexpr double kChi2Df7 = 24.32;  // 0.999 quantile, 7 degrees of freedom
  constexpr double kChi2Df3 = 16.27;  // 0.999 quantile, 3 degrees of freedom
  for (const float temperature : {1.0f, 0.6f, 2.5f}) {
    SCOPED_TRACE(temperature);
    Sampler sampler(MakeSampling(temperature, 0, 11));
    EXPECT_LT(ChiSquare(sampler, logits, temperature, {}, kDraws), kChi2Df7);
  }
  // top_k = 4 keeps ids 4, 1, 3, 7 (logits 2.0, 1.5, 1.0, 0.8) and
  // renormalises over them.
  for (const float temperature : {1.0f, 0.6f}) {
    SCOPED_TRACE(temperature);
    Sampler sampler(MakeSampling(temperature, 4, 12));
    EXPECT_LT(ChiSquare(sampler, logits, temperature, {4, 1, 3, 7}, kDraws),
              kChi2Df3);
  }
  // The same statistic rejects a sampler that ignores the temperature: T = 1
  // draws judged against T = 0.6 (and the reverse) are far off.
  Sampler at_one(MakeSampling(1.0f, 0, 11));
  EXPECT_GT(ChiSquare(at_one, logits, 0.6, {}, kDraws), 10 * kChi2Df7);
  Sampler at_moderate(MakeSampling(0.6f, 0, 11));
  EXPECT_GT(ChiSquare(at_moderate, logits, 1.0, {}, kDraws), 10 * kChi2Df7);
}

v1::Sampling MakeNucleus(float temperature, float top_p, uint64_t seed) {
  v1::Sampling s = MakeSampling(temperature, 0, seed);
  s.set_top_p(top_p);
  return s;
}

// Nucleus sampling stated independently of the sampler: the ids of the
// smallest set of most likely tokens of softmax(logits / temperature) whose
// probabilities sum to at least p (computed from the probabilities
// themselves, one id at a time, by repeatedly taking the largest left).
std::vector<int32_t> NucleusOf(const std::vector<float>& logits,
                               double temperature, double p) {
  std::vector<double> prob(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    prob[i] = std::exp(logits[i] / temperature);
    total += prob[i];
  }
  for (double& q : prob) q /= total;
  std::vector<bool> taken(logits.size(), false);
  std::vector<int32_t> nucleus;
  double mass = 0;
  while (mass < p - 1e-12) {
    size_t best = logits.size();
    for (size_t i = 0; i < logits.size(); ++i) {
      if (!taken[i] && (best == logits.size() || prob[i] > prob[best]))
        best = i;
    }
    if (best == logits.size()) break;  // rounding left p - mass > 0
    taken[best] = true;
    mass += prob[best];
    nucleus.push_back(static_cast<int32_t>(best));
  }
  return nucleus;
}

// Only the nucleus ever appears, and its tokens come with the renormalised
// probabilities (chi-square at the 0.999 quantile, as above); p = 1 and the
// proto default 0 keep every token.
TEST(SamplerTest, TopPSamplesTheNucleusWithRenormalisedFrequencies) {
  // Probabilities at T = 1: id 4 ~0.35, 1 ~0.21, 3 ~0.13, 7 ~0.11, 5 ~0.07,
  // 0 ~0.05, 2 ~0.03, 6 ~0.01.
  const std::vector<float> logits = {0.0f, 1.5f, -0.5f, 1.0f,
                                     2.0f, 0.3f, -1.2f, 0.8f};
  constexpr int kDraws = 40000;
  // 0.999 quantiles of chi-square by degrees of freedom (index).
  const double kChi2[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
  struct Case {
    float temperature;
    float top_p;
    size_t nucleus_size;  // what NucleusOf should give: guards the statement
  };
  for (const Case& c :
       {Case{1.0f, 0.5f, 2}, Case{1.0f, 0.8f, 4}, Case{1.0f, 0.9f, 5},
        Case{0.6f, 0.8f, 3}, Case{2.5f, 0.5f, 3}, Case{1.0f, 1.0f, 8}}) {
    SCOPED_TRACE(testing::Message()
                 << "T " << c.temperature << " p " << c.top_p);
    const std::vector<int32_t> nucleus =
        NucleusOf(logits, c.temperature, c.top_p);
    ASSERT_EQ(nucleus.size(), c.nucleus_size);
    Sampler sampler(MakeNucleus(c.temperature, c.top_p, 21));
    std::vector<int32_t> support = nucleus;
    const double chi2 =
        ChiSquare(sampler, logits, c.temperature, support, kDraws);
    EXPECT_LT(chi2, kChi2[nucleus.size() - 1]);  // +inf if outside appears
  }
  // The proto default (0) means no truncation: all eight appear.
  Sampler untruncated(MakeNucleus(1.0f, 0.0f, 5));
  std::set<int32_t> seen;
  for (int i = 0; i < 5000; ++i) seen.insert(untruncated.Sample(logits));
  EXPECT_EQ(seen.size(), 8u);
  // The statistic rejects sampling the whole distribution when a nucleus
  // was asked for: draws with p = 1 judged against the p = 0.8 nucleus.
  Sampler whole(MakeNucleus(1.0f, 1.0f, 21));
  EXPECT_EQ(ChiSquare(whole, logits, 1.0, NucleusOf(logits, 1.0, 0.8), kDraws),
            std::numeric_limits<double>::infinity());
}

TEST(SamplerTest, TopPAfterTopKAndDeterministicForASeed) {
  const std::vector<float> logits = {0.0f, 1.5f, -0.5f, 1.0f,
                                     2.0f, 0.3f, -1.2f, 0.8f};
  // top_k = 4 keeps 4, 1, 3, 7 (renormalised: ~0.44, ~0.27, ~0.16, ~0.13);
  // top_p = 0.7 then keeps 4 and 1 (0.71).
  v1::Sampling s = MakeNucleus(1.0f, 0.7f, 8);
  s.set_top_k(4);
  std::vector<float> kept = {logits[4], logits[1], logits[3], logits[7]};
  ASSERT_EQ(NucleusOf(kept, 1.0, 0.7).size(), 2u);
  Sampler sampler(s);
  std::set<int32_t> seen;
  std::vector<int32_t> first;
  for (int i = 0; i < 2000; ++i) {
    const int32_t id = sampler.Sample(logits);
    seen.insert(id);
    if (i < 64) first.push_back(id);
  }
  EXPECT_EQ(seen, (std::set<int32_t>{4, 1}));
  Sampler again(s);
  std::vector<int32_t> replay;
  for (int i = 0; i < 64; ++i) replay.push_back(again.Sample(logits));
  EXPECT_EQ(replay, first);
  // A tiny p keeps only the most likely token: greedy at any temperature.
  Sampler tiny(MakeNucleus(50.0f, 1e-6f, 3));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(tiny.Sample(logits), 4);
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
  for (float bad : {-0.1f, 1.01f, std::nanf("")}) {
    s = ValidateSampling(MakeNucleus(1, bad, 0), "sampling");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("sampling.top_p"));
  }
  EXPECT_TRUE(ValidateSampling(MakeNucleus(1, 0.3f, 0), "sampling").ok());
}

}  // namespace
}  // namespace trilemma
