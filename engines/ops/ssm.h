// Kernels of a Mamba-style selective state-space block, one token at a time
// for one session: the short causal depthwise convolution and the selective
// scan recurrence (Gu & Dao, "Mamba", Algorithm 2, discretised with
// zero-order hold on A and Euler on B as in the reference implementation).
//
// Thread-safe (pure functions over caller-owned state).
#ifndef TRILEMMA_ENGINES_OPS_SSM_H_
#define TRILEMMA_ENGINES_OPS_SSM_H_

#include <cstdint>

namespace trilemma::ops {

// One step of a causal depthwise conv1d with kernel K over `channels`:
//   out[c] = b[c] + Σ_{j<K-1} w[c][j]·window[c][j] + w[c][K-1]·x[c]
// where window[c] holds the previous K-1 inputs, oldest first; it is then
// shifted to include x. Weights w: [channels, K] (PyTorch conv1d [C, 1, K]).
void CausalConvStep(const float* x, const float* w, const float* b,
                    int64_t channels, int kernel, float* window, float* out);

// One selective-scan step over `channels` channels with state size n:
//   h[c][i] = exp(dt[c]·A[c][i])·h[c][i] + dt[c]·B[i]·u[c]
//   y[c]    = Σ_i C[i]·h[c][i] + D[c]·u[c]
// A: [channels, n] (already negative: A = -exp(A_log)); h: [channels, n].
void SelectiveScanStep(const float* u, const float* dt, const float* a,
                       const float* b, const float* c, const float* d,
                       int64_t channels, int64_t n, float* h, float* y);

// Analytic FLOPs (multiply-add = 2; exp counted as 1) of the two kernels.
inline int64_t CausalConvFlops(int64_t channels, int kernel) {
  return 2 * channels * kernel;
}
inline int64_t SelectiveScanFlops(int64_t channels, int64_t n) {
  // Per (c, i): dt·A, exp, the decayed update (mul + fma), the read (fma);
  // per c: dt·u and D·u.
  return channels * (7 * n + 4);
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_SSM_H_
