#include "engines/ops/vector_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

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
  // Runs once per generated token over the whole vocabulary: the server's
  // largest per-token cost after the engine step. The obvious loop carries a
  // dependency through `best` and runs scalar (~31 µs at V = 8192 here);
  // independent lanes for the maximum, then a scan for its first position,
  // let GCC vectorise both (~5 µs). NaNs never win, as with `>`.
  constexpr int64_t kLanes = 16;
  const int64_t full = n - n % kLanes;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < full; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      lane[l] = lane[l] < x[i + l] ? x[i + l] : lane[l];
    }
  }
  float best = -std::numeric_limits<float>::infinity();
  for (int64_t l = 0; l < kLanes; ++l) best = best < lane[l] ? lane[l] : best;
  for (int64_t i = full; i < n; ++i) best = best < x[i] ? x[i] : best;
  for (int64_t i = 0; i < full; i += kLanes) {
    bool here = false;
    for (int64_t l = 0; l < kLanes; ++l) here |= x[i + l] == best;
    if (!here) continue;
    for (int64_t l = 0;; ++l) {
      if (x[i + l] == best) return i + l;
    }
  }
  for (int64_t i = full; i < n; ++i) {
    if (x[i] == best) return i;
  }
  return 0;  // empty, or nothing but NaN and -inf
}

}  // namespace trilemma::ops
