// engines/ops/linear_recurrence.h against the identities that define it.
#include "engines/ops/linear_recurrence.h"

#include <cmath>
#include <random>
#include <vector>

#include "engines/ops/vector_ops.h"
#include "gtest/gtest.h"

namespace trilemma::ops {
namespace {

std::vector<float> Random(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

TEST(FeatureMap, DimsMatchTheirDefinitions) {
  EXPECT_EQ(FeatureDim(FeatureMap::kIdentity, 16, false), 16);
  EXPECT_EQ(FeatureDim(FeatureMap::kElu1, 16, true), 16);
  EXPECT_EQ(FeatureDim(FeatureMap::kTaylor2, 16, false), 16 + 136);
  EXPECT_EQ(FeatureDim(FeatureMap::kTaylor2, 16, true), 1 + 16 + 136);
}

TEST(FeatureMap, Taylor2KernelIsTheSecondOrderSeriesOfExp) {
  const int n = 7;
  for (bool constant : {false, true}) {
    const std::vector<float> q = Random(n, 1), k = Random(n, 2);
    const int64_t f = FeatureDim(FeatureMap::kTaylor2, n, constant);
    std::vector<float> pq(f), pk(f);
    ApplyFeatureMap(FeatureMap::kTaylor2, q.data(), n, constant, pq.data());
    ApplyFeatureMap(FeatureMap::kTaylor2, k.data(), n, constant, pk.data());
    const double s = Dot(q.data(), k.data(), n);
    EXPECT_NEAR(Dot(pq.data(), pk.data(), f),
                (constant ? 1.0 : 0.0) + s + s * s / 2, 1e-4);
  }
}

TEST(FeatureMap, Elu1IsPositive) {
  const std::vector<float> x = Random(64, 3, 4.0f);
  std::vector<float> phi(64);
  ApplyFeatureMap(FeatureMap::kElu1, x.data(), 64, false, phi.data());
  for (int i = 0; i < 64; ++i) {
    EXPECT_GT(phi[i], 0.0f);
    EXPECT_FLOAT_EQ(phi[i], x[i] > 0 ? x[i] + 1 : std::exp(x[i]));
  }
}

TEST(OuterProduct, ReadsTheDecayedKernelWeightedSumOfValues) {
  const int dk = 5, dv = 3, steps = 4;
  const float gamma = 0.8f;
  std::vector<float> s(dk * dv, 0.0f), z(dk, 0.0f);
  std::vector<std::vector<float>> keys, values;
  for (int t = 0; t < steps; ++t) {
    keys.push_back(Random(dk, 10 + t));
    values.push_back(Random(dv, 20 + t));
    DecayedOuterUpdate(gamma, keys[t].data(), values[t].data(), dk, dv,
                       s.data(), z.data());
  }
  const std::vector<float> q = Random(dk, 99);
  std::vector<double> expect(dv, 0.0);
  double norm = 0;
  for (int t = 0; t < steps; ++t) {
    const double w =
        std::pow(gamma, steps - 1 - t) * Dot(q.data(), keys[t].data(), dk);
    norm += w;
    for (int j = 0; j < dv; ++j) expect[j] += w * values[t][j];
  }
  std::vector<float> o(dv), o_norm(dv);
  OuterRead(s.data(), nullptr, q.data(), dk, dv, o.data());
  OuterRead(s.data(), z.data(), q.data(), dk, dv, o_norm.data());
  for (int j = 0; j < dv; ++j) {
    EXPECT_NEAR(o[j], expect[j], 1e-4);
    EXPECT_NEAR(o_norm[j], expect[j] / (norm + kNormaliserEps), 1e-3);
  }
}

TEST(DeltaRule, UnitKeyWithBetaOneStoresTheValueExactly) {
  const int dk = 6, dv = 4;
  std::vector<float> s = Random(dk * dv, 5);  // whatever it held before
  std::vector<float> k = Random(dk, 6), v = Random(dv, 7), u(dv), o(dv);
  L2Normalize(k.data(), dk);
  DeltaRuleUpdate(1.0f, 1.0f, k.data(), v.data(), dk, dv, s.data(), u.data());
  OuterRead(s.data(), nullptr, k.data(), dk, dv, o.data());
  for (int j = 0; j < dv; ++j) EXPECT_NEAR(o[j], v[j], 1e-5);
}

TEST(DeltaRule, LeavesDirectionsOrthogonalToTheKeyScaledByAlpha) {
  const int dk = 4, dv = 3;
  const float alpha = 0.9f, beta = 0.6f;
  std::vector<float> s = Random(dk * dv, 8), before = s;
  std::vector<float> k = {0, 1, 0, 0}, v = Random(dv, 9), u(dv);
  DeltaRuleUpdate(alpha, beta, k.data(), v.data(), dk, dv, s.data(), u.data());
  // Rows other than the key's channel only decay; the key's row moves
  // β of the way from α·(old answer) to v.
  for (int i = 0; i < dk; ++i) {
    for (int j = 0; j < dv; ++j) {
      const float old = before[i * dv + j];
      const float want =
          i == 1 ? alpha * old + beta * (v[j] - alpha * old) : alpha * old;
      EXPECT_NEAR(s[i * dv + j], want, 1e-5) << i << "," << j;
    }
  }
}

}  // namespace
}  // namespace trilemma::ops
