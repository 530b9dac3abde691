#include "engines/ops/gated_recurrence.h"

#include <cmath>

#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void L2NormalizeInside(float* x, int64_t n, float eps) {
  CountFlops(L2NormalizeInsideFlops(n));
  const float inv = 1.0f / std::sqrt(Dot(x, x, n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void GatedDeltaRuleStep(float decay, float beta, const float* k, const float* v,
                        const float* q, float scale, int64_t dk, int64_t dv,
                        float* s, float* o) {
  CountFlops(GatedDeltaRuleStepFlops(dk, dv));
  for (int64_t j = 0; j < dv; ++j) {
    float* row = s + j * dk;
    if (decay != 1.0f) {
      for (int64_t i = 0; i < dk; ++i) row[i] *= decay;
    }
    const float u = beta * (v[j] - Dot(row, k, dk));
    Axpy(u, k, row, dk);
    o[j] = scale * Dot(row, q, dk);
  }
}

void ScalarDecaySsmStep(const float* x, float dt, float a, const float* b,
                        const float* c, float d, int64_t head_dim, int64_t n,
                        float* h, float* y) {
  CountFlops(ScalarDecaySsmStepFlops(head_dim, n));
  const float decay = std::exp(dt * a);
  for (int64_t p = 0; p < head_dim; ++p) {
    float* hp = h + p * n;
    const float dtx = dt * x[p];
    for (int64_t i = 0; i < n; ++i) hp[i] = decay * hp[i] + dtx * b[i];
    y[p] = Dot(hp, c, n) + d * x[p];
  }
}

void GatedRmsNorm(const float* x, const float* z, const float* w, float eps,
                  int64_t n, int64_t groups, bool norm_before_gate, float* y) {
  CountFlops(GatedRmsNormFlops(n));
  const int64_t width = n / groups;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t begin = g * width, end = begin + width;
    if (z != nullptr && !norm_before_gate) {
      for (int64_t i = begin; i < end; ++i) y[i] = x[i] * Silu(z[i]);
    } else if (y != x) {
      for (int64_t i = begin; i < end; ++i) y[i] = x[i];
    }
    const float inv = 1.0f / std::sqrt(Dot(y + begin, y + begin, width) /
                                           static_cast<float>(width) +
                                       eps);
    for (int64_t i = begin; i < end; ++i) y[i] *= inv * w[i];
    if (z != nullptr && norm_before_gate) {
      for (int64_t i = begin; i < end; ++i) y[i] *= Silu(z[i]);
    }
  }
}

}  // namespace trilemma::ops
