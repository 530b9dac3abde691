// Small per-row kernels shared by the engines' forward passes: norms,
// activations, token shift, dot products. Written as plain loops over
// contiguous floats so the compiler vectorises them.
//
// Thread-safe (pure functions). Output may alias input where noted.
#ifndef TRILEMMA_ENGINES_OPS_VECTOR_OPS_H_
#define TRILEMMA_ENGINES_OPS_VECTOR_OPS_H_

#include <cmath>
#include <cstdint>

namespace trilemma::ops {

// Eight independent partial sums so the compiler can vectorise the reduction
// without reassociating floats on its own (no -ffast-math).
inline float Dot(const float* a, const float* b, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += a[i + j] * b[i + j];
  }
  float sum = ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
              ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y += alpha * x.
inline void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// y = x (n floats).
inline void Copy(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i];
}

// y += x.
inline void Add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// RMSNorm of each of `rows` rows of width n: y = x / sqrt(mean(x²) + eps) ⊙ g.
// y may alias x.
void RmsNorm(const float* x, const float* g, float eps, int64_t rows, int64_t n,
             float* y);

inline float Silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// log(1 + e^x), stable for large |x|.
inline float Softplus(float x) {
  return x > 20.0f ? x : std::log1p(std::exp(x));
}

// Token shift (a 2-tap causal depthwise conv):
//   y = w_cur ⊙ cur + w_prev ⊙ prev      (all width n)
void TokenShift(const float* cur, const float* prev, const float* w_cur,
                const float* w_prev, int64_t n, float* y);

// Index of the largest of n values (first on ties; NaNs never win; 0 when
// there is none).
int64_t Argmax(const float* x, int64_t n);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_VECTOR_OPS_H_
