#include "engines/ops/vector_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/argmax.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void RmsNorm(const float* x, const float* g, float eps, int64_t rows, int64_t n,
             float* y) {
  // Per row: the sum of squares (2n) and the scaled product (2n).
  CountFlops(4 * rows * n);
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
  CountFlops(3 * n);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = w_cur[i] * cur[i] + w_prev[i] * prev[i];
  }
}

int64_t Argmax(const float* x, int64_t n) {
  // One implementation for engines and server (common/argmax.h); here it is
  // compiled at the engines' -O3.
  return ArgmaxOf(x, n);
}

}  // namespace trilemma::ops
