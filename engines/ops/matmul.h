// Dense matrix products on oneDNN: the projections and the readout of every
// engine, run as one matmul over the batch.
//
// Weights follow the PyTorch Linear layout, W[out][in], so a checkpoint's
// tensors can be used as they are.
//
// Example:
//   // x: [B, d_in]  w: [d_out, d_in]  ->  y: [B, d_out]
//   ops::Linear(x, B, d_in, w, d_out, y);
//
// Thread-safe: primitives are cached per thread.
#ifndef TRILEMMA_ENGINES_OPS_MATMUL_H_
#define TRILEMMA_ENGINES_OPS_MATMUL_H_

#include <cstdint>

namespace trilemma::ops {

// y[rows, out] = x[rows, in] · w[out, in]ᵀ. y must not alias x or w.
void Linear(const float* x, int64_t rows, int64_t in, const float* w,
            int64_t out, float* y);

// What a fused Linear applies after the bias.
enum class Activation {
  kNone,
  kGeluErf,  // x·Φ(x) with the exact erf (GPT-NeoX's "gelu")
};

// y[rows, out] = act(x[rows, in] · w[out, in]ᵀ + bias[out]) in one oneDNN
// primitive (bias may be null). FLOPs as Linear + AddBias + GeluErf count
// them, so fusing does not change what an engine reports.
void Linear(const float* x, int64_t rows, int64_t in, const float* w,
            int64_t out, float* y, const float* bias, Activation act);

// c[m, n] = a[m, k] · b[k, n], all row-major (the plain oneDNN matmul the
// benchmarks compare the readout with).
void MatMul(const float* a, const float* b, float* c, int64_t m, int64_t k,
            int64_t n);

// Linear and MatMul without adding to the work counter, for kernels that
// compute part of a product densely but count only the work their
// row-by-row form does (ops::AttendChunk).
void LinearUncounted(const float* x, int64_t rows, int64_t in, const float* w,
                     int64_t out, float* y);
void MatMulUncounted(const float* a, const float* b, float* c, int64_t m,
                     int64_t k, int64_t n);

// Team size of this thread's matmuls (see SetStepThreads in engine.h).
void SetThreads(int threads);

// Analytic FLOPs of Linear: multiply-add = 2.
inline int64_t LinearFlops(int64_t rows, int64_t in, int64_t out) {
  return 2 * rows * in * out;
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_MATMUL_H_
