// Argmax over a row of logits: shared by the engines (recall scoring,
// reference checks) and the server's sampler, so neither reaches into the
// other's internals (the server sees only engines/engine.h, see
// tests/server/include_check.sh).
//
// Example:
//   const float logits[] = {0.1f, 2.0f, 2.0f};
//   int64_t best = ArgmaxOf(logits, 3);  // 1: the first of the largest
#ifndef TRILEMMA_COMMON_ARGMAX_H_
#define TRILEMMA_COMMON_ARGMAX_H_

#include <algorithm>
#include <cstdint>
#include <limits>

namespace trilemma {

// Index of the largest of n values (first on ties; NaNs never win; 0 when
// there is none). REQUIRES: x holds n floats (n >= 0).
inline int64_t ArgmaxOf(const float* x, int64_t n) {
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

}  // namespace trilemma

#endif  // TRILEMMA_COMMON_ARGMAX_H_
