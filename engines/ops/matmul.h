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
#include <memory>

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

// LinearWeight: a Linear layer's weight W[out][in] (PyTorch layout), with a
// copy packed once into the blocked layout oneDNN's batched kernels read.
//
// With the plain layout oneDNN repacks the weights on every call, which at
// a decode batch (4-64 rows) costs about as much as the product itself:
// packed, Pythia-160M decode of 32 streams on two threads runs ~1.3-1.5x
// faster (docs/performance.md, "Packed weights").
//
// Example:
//   ops::LinearWeight up(w_up, ff, d);  // w_up: [ff, d]
//   ops::Linear(x, rows, up, y);        // x: [R, d] -> y: [R, ff]
//
// Only matrices of at least 256 inputs and 64K elements are packed (smaller
// ones gain little and each packed shape builds its own primitives).
// The packed copy is owned (shared by copies of this object) and costs as
// much memory as `w` again; TRILEMMA_PACK_WEIGHTS=0 turns packing off to
// save it. `w` is borrowed and must outlive this object: products of fewer
// than 4 rows (faster on the plain layout) and kernels that do not take the
// packed layout (another CPU) read it.
// Thread-safe: immutable after construction.
class LinearWeight {
 public:
  struct Packed;  // oneDNN memory and its layout (matmul.cc)

  LinearWeight() = default;
  // REQUIRES: w is null (an absent weight) or [out, in].
  LinearWeight(const float* w, int64_t out, int64_t in);

  const float* data() const { return data_; }
  int64_t out() const { return out_; }
  int64_t in() const { return in_; }
  bool packed() const { return packed_ != nullptr; }
  const Packed* packed_copy() const { return packed_.get(); }

 private:
  const float* data_ = nullptr;
  int64_t out_ = 0;
  int64_t in_ = 0;
  std::shared_ptr<const Packed> packed_;
};

// y[rows, w.out()] = act(x[rows, w.in()] · wᵀ + bias) as the raw-pointer
// Linear above (same FLOPs counted), through the packed copy when there is
// one. REQUIRES: w.data() != nullptr; y does not alias x.
void Linear(const float* x, int64_t rows, const LinearWeight& w, float* y,
            const float* bias = nullptr, Activation act = Activation::kNone);

// Analytic FLOPs of Linear: multiply-add = 2.
inline int64_t LinearFlops(int64_t rows, int64_t in, int64_t out) {
  return 2 * rows * in * out;
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_MATMUL_H_
