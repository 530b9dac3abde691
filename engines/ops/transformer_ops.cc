#include "engines/ops/transformer_ops.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/attention.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void LayerNorm(const float* x, const float* g, const float* b, float eps,
               int64_t rows, int64_t n, float* y) {
  CountFlops(6 * rows * n);  // mean, centred square, normalise, scale, shift
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    // Two passes in double: checkpoints' activations can carry large means,
    // where the one-pass E[x²] − E[x]² form loses the variance.
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += xr[i];
    mean /= static_cast<double>(n);
    double var = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double c = xr[i] - mean;
      var += c * c;
    }
    var /= static_cast<double>(n);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int64_t i = 0; i < n; ++i) {
      yr[i] = (xr[i] - m) * inv * g[i] + (b != nullptr ? b[i] : 0.0f);
    }
  }
}

void AddBias(const float* bias, int64_t rows, int64_t n, float* y) {
  CountFlops(rows * n);
  for (int64_t r = 0; r < rows; ++r) Add(bias, y + r * n, n);
}

void GeluErf(float* x, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  CountFlops(5 * n);  // erf counted as one
  for (int64_t i = 0; i < n; ++i) {
    x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
  }
}

void SiluMul(float* a, const float* b, int64_t n) {
  CountFlops(4 * n);  // exp counted as one
  for (int64_t i = 0; i < n; ++i) a[i] = Silu(a[i]) * b[i];
}

Rotary::Rotary(int head_dim, int rotary_dims, double theta)
    : head_dim_(head_dim), rotary_dims_(rotary_dims) {
  for (int i = 0; i < rotary_dims / 2; ++i) {
    inv_freq_.push_back(std::pow(theta, -2.0 * i / rotary_dims));
  }
}

void Rotary::Prepare(int64_t position, float* cos_sin) const {
  const int half = rotary_dims_ / 2;
  for (int i = 0; i < half; ++i) {
    // The angle in double: position·inv_freq reaches 1e5+ rad at long
    // contexts, where a float angle is off by whole radians' fractions.
    const double angle = static_cast<double>(position) * inv_freq_[i];
    cos_sin[i] = static_cast<float>(std::cos(angle));
    cos_sin[half + i] = static_cast<float>(std::sin(angle));
  }
}

void Rotary::Apply(const float* cos_sin, int heads, float* x) const {
  const int half = rotary_dims_ / 2;
  CountFlops(int64_t{6} * heads * half);
  const float* cos = cos_sin;
  const float* sin = cos_sin + half;
  for (int h = 0; h < heads; ++h) {
    float* xh = x + int64_t{h} * head_dim_;
    for (int i = 0; i < half; ++i) {
      const float a = xh[i], b = xh[half + i];
      xh[i] = a * cos[i] - b * sin[i];
      xh[half + i] = b * cos[i] + a * sin[i];
    }
  }
}

void AttendGrouped(const float* q, int q_heads, int kv_heads, int head_dim,
                   float scale, const KvBlockTable& kv, int layer,
                   int64_t slots, float* out) {
  AttendKv(q, q_heads, kv_heads, head_dim, scale, kv, layer, slots, out);
}

}  // namespace trilemma::ops
