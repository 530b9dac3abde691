#include "engines/ops/linear_recurrence.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

FeatureMap FeatureMapFromName(const std::string& name) {
  if (name == "elu1") return FeatureMap::kElu1;
  if (name == "taylor2") return FeatureMap::kTaylor2;
  return FeatureMap::kIdentity;
}

int64_t FeatureDim(FeatureMap map, int64_t n, bool constant) {
  if (map != FeatureMap::kTaylor2) return n;
  return (constant ? 1 : 0) + n + n * (n + 1) / 2;
}

void ApplyFeatureMap(FeatureMap map, const float* x, int64_t n, bool constant,
                     float* phi) {
  CountFlops(FeatureMapFlops(map, n, constant));
  switch (map) {
    case FeatureMap::kIdentity:
      Copy(x, phi, n);
      return;
    case FeatureMap::kElu1:
      for (int64_t i = 0; i < n; ++i) {
        phi[i] = x[i] > 0.0f ? x[i] + 1.0f : std::exp(x[i]);
      }
      return;
    case FeatureMap::kTaylor2: {
      // Σ_{i<j} q_i q_j k_i k_j + Σ_i q_i² k_i² / 2 = (q·k)² / 2.
      const float inv_sqrt2 = 1.0f / std::sqrt(2.0f);
      if (constant) *phi++ = 1.0f;
      Copy(x, phi, n);
      phi += n;
      for (int64_t i = 0; i < n; ++i) {
        *phi++ = x[i] * x[i] * inv_sqrt2;
        for (int64_t j = i + 1; j < n; ++j) *phi++ = x[i] * x[j];
      }
      return;
    }
  }
}

int64_t FeatureMapFlops(FeatureMap map, int64_t n, bool constant) {
  if (map == FeatureMap::kIdentity) return 0;
  if (map == FeatureMap::kElu1) return n;
  return FeatureDim(map, n, constant) + n;  // products, plus the diagonal scale
}

void DecayedOuterUpdate(float gamma, const float* phi_k, const float* v,
                        int64_t dk, int64_t dv, float* s, float* z) {
  CountFlops(DecayedOuterUpdateFlops(dk, dv, gamma != 1.0f,
                                     /*normalised=*/z != nullptr));
  for (int64_t i = 0; i < dk; ++i) {
    float* row = s + i * dv;
    if (gamma != 1.0f) {
      for (int64_t j = 0; j < dv; ++j) row[j] *= gamma;
    }
    Axpy(phi_k[i], v, row, dv);
  }
  if (z == nullptr) return;
  for (int64_t i = 0; i < dk; ++i) z[i] = gamma * z[i] + phi_k[i];
}

void OuterRead(const float* s, const float* z, const float* phi_q, int64_t dk,
               int64_t dv, float* o) {
  CountFlops(OuterReadFlops(dk, dv, /*normalised=*/z != nullptr));
  std::fill(o, o + dv, 0.0f);
  for (int64_t i = 0; i < dk; ++i) Axpy(phi_q[i], s + i * dv, o, dv);
  if (z == nullptr) return;
  const float inv = 1.0f / (Dot(phi_q, z, dk) + kNormaliserEps);
  for (int64_t j = 0; j < dv; ++j) o[j] *= inv;
}

void DeltaRuleUpdate(float alpha, float beta, const float* k, const float* v,
                     int64_t dk, int64_t dv, float* s, float* u) {
  CountFlops(DeltaRuleUpdateFlops(dk, dv, alpha != 1.0f));
  // u = v − α·Sᵀk: what the memory lacks for k, after the decay.
  std::fill(u, u + dv, 0.0f);
  for (int64_t i = 0; i < dk; ++i) Axpy(k[i], s + i * dv, u, dv);
  for (int64_t j = 0; j < dv; ++j) u[j] = v[j] - alpha * u[j];
  for (int64_t i = 0; i < dk; ++i) {
    float* row = s + i * dv;
    if (alpha != 1.0f) {
      for (int64_t j = 0; j < dv; ++j) row[j] *= alpha;
    }
    Axpy(beta * k[i], u, row, dv);
  }
}

void L2Normalize(float* x, int64_t n, float eps) {
  CountFlops(L2NormalizeFlops(n));
  const float norm = std::sqrt(Dot(x, x, n));
  const float inv = 1.0f / std::max(norm, eps);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace trilemma::ops
