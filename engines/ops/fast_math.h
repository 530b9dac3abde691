// Exp, Silu and Softplus written without library calls or branches, so a
// loop over them vectorises (std::exp is a scalar libm call that GCC will not
// vectorise without -ffast-math). The selective scan, softmax and gates
// evaluate millions of these per prefill; see docs/performance.md.
//
// Example:
//   for (int64_t i = 0; i < n; ++i) y[i] = ops::FastExp(x[i]);  // vectorised
//
// Accuracy: FastExp is within 3 ulp of e^x for x in [-86.6, 88.7] (Cephes'
// expf polynomial after an exact-in-float reduction by ln 2); below that it
// returns 0 (e^x < 2.4e-38), above it +inf; NaN stays NaN. That is far inside
// the 1e-4 relative agreement the checkpoint reference tests ask for.
//
// Thread-safe (pure functions).
#ifndef TRILEMMA_ENGINES_OPS_FAST_MATH_H_
#define TRILEMMA_ENGINES_OPS_FAST_MATH_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engines/ops/cpu_dispatch.h"  // IWYU pragma: export

namespace trilemma::ops {

inline float FastExp(float x) {
  constexpr float kLo = -86.6f;  // e^kLo > FLT_MIN: 2^n stays normal
  constexpr float kHi = 88.72f;  // e^kHi < FLT_MAX
  // Comparisons are false for NaN, so no NaN reaches the int conversion.
  float c = x > kLo ? x : kLo;
  c = c < kHi ? c : kHi;
  // n = round(c / ln 2) with the 1.5·2^23 trick (vectorises without SSE4.1).
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // r = c - n·ln 2, with ln 2 split so n·kLn2Hi is exact.
  const float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;  // e^r, |r| <= ln2/2
  // 2^n as 2^(n-1)·2, so n = 128 (c near kHi) keeps a finite exponent field.
  const int32_t bits = (static_cast<int32_t>(n) + 126) << 23;
  float result = er * std::bit_cast<float>(bits) * 2.0f;
  result = x > kLo ? result : 0.0f;
  result = x < kHi ? result : std::numeric_limits<float>::infinity();
  return x == x ? result : x;
}

// x·σ(x).
inline float FastSilu(float x) { return x / (1.0f + FastExp(-x)); }

// σ(x) = 1 / (1 + e^-x).
inline float FastSigmoid(float x) { return 1.0f / (1.0f + FastExp(-x)); }

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_FAST_MATH_H_
