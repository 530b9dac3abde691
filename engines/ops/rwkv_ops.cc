#include "engines/ops/rwkv_ops.h"

#include <cmath>

#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void GeneralizedDeltaStep(const float* r, const float* decay, const float* k,
                          const float* v, const float* kk, const float* a,
                          int64_t dk, int64_t dv, float* s, float* o,
                          float* scratch) {
  CountFlops(GeneralizedDeltaStepFlops(dk, dv));
  float* u = scratch;  // Sᵀ·kk before the update, [dv]
  for (int64_t j = 0; j < dv; ++j) u[j] = 0.0f;
  for (int64_t i = 0; i < dk; ++i) Axpy(kk[i], s + i * dv, u, dv);
  for (int64_t j = 0; j < dv; ++j) o[j] = 0.0f;
  for (int64_t i = 0; i < dk; ++i) {
    float* row = s + i * dv;
    const float d = decay[i];
    const float remove = -kk[i] * a[i];
    const float ki = k[i];
    for (int64_t j = 0; j < dv; ++j) {
      row[j] = d * row[j] + remove * u[j] + ki * v[j];
    }
    Axpy(r[i], row, o, dv);
  }
}

void GroupNorm(const float* x, const float* weight, const float* bias,
               int64_t groups, int64_t n, float eps, int64_t rows, float* y) {
  // Per channel: mean (1), centred square (3), scale and affine (3).
  CountFlops(7 * rows * groups * n);
  for (int64_t g = 0; g < rows * groups; ++g) {
    const float* xg = x + g * n;
    float* yg = y + g * n;
    const int64_t c0 = (g % groups) * n;  // first channel of this group
    float mean = 0.0f;
    for (int64_t i = 0; i < n; ++i) mean += xg[i];
    mean /= static_cast<float>(n);
    float var = 0.0f;
    for (int64_t i = 0; i < n; ++i) var += (xg[i] - mean) * (xg[i] - mean);
    var /= static_cast<float>(n);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) {
      const float b = bias != nullptr ? bias[c0 + i] : 0.0f;
      yg[i] = (xg[i] - mean) * inv * weight[c0 + i] + b;
    }
  }
}

void ShiftMix(const float* x, const float* prev, const float* mu, int64_t n,
              float* y) {
  CountFlops(3 * n);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + (prev[i] - x[i]) * mu[i];
}

void SquaredRelu(float* x, int64_t n) {
  CountFlops(2 * n);
  for (int64_t i = 0; i < n; ++i) {
    const float p = x[i] > 0.0f ? x[i] : 0.0f;
    x[i] = p * p;
  }
}

}  // namespace trilemma::ops
