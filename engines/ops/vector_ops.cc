#include "engines/ops/vector_ops.h"

namespace trilemma::ops {

void RmsNorm(const float* x, const float* g, float eps, int64_t rows, int64_t n,
             float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float sum_sq = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum_sq += xr[i] * xr[i];
    const float scale = 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale * g[i];
  }
}

void TokenShift(const float* cur, const float* prev, const float* w_cur,
                const float* w_prev, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = w_cur[i] * cur[i] + w_prev[i] * prev[i];
}

int64_t Argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace trilemma::ops
