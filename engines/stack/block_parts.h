// The parts of a layer-stack block around its mixer: the norm (RMSNorm or
// LayerNorm with bias) and the feed-forward network (GELU MLP as in GPT-NeoX,
// SwiGLU as in Llama). Weights are borrowed from the engine's TensorMap.
//
// Example:
//   Norm norm{.kind = Norm::Kind::kLayer, .weight = g, .bias = b,
//             .eps = 1e-5f, .width = d};
//   norm.Apply(h, rows, xn);                  // [R, d] -> [R, d]
//   Ffn ffn = Ffn::GeluMlp(d, ff, w_up, b_up, w_down, b_down);
//   ffn.Forward(xn, rows, out);               // [R, d] -> [R, d]
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_STACK_BLOCK_PARTS_H_
#define TRILEMMA_ENGINES_STACK_BLOCK_PARTS_H_

#include <cstdint>

#include "engines/ops/matmul.h"

namespace trilemma {

struct Norm {
  enum class Kind { kRms, kLayer };
  Kind kind = Kind::kRms;
  const float* weight = nullptr;  // [width]
  const float* bias = nullptr;    // [width], LayerNorm only; may be null
  float eps = 1e-5f;
  int64_t width = 0;

  // y may alias x.
  void Apply(const float* x, int64_t rows, float* y) const;
};

class Ffn {
 public:
  // up: [ff, d] (+ b_up [ff]), GELU (erf), down: [d, ff] (+ b_down [d]);
  // biases may be null.
  static Ffn GeluMlp(int d, int ff, const float* w_up, const float* b_up,
                     const float* w_down, const float* b_down);
  // down(SiLU(gate·x) ⊙ up·x): gate, up: [ff, d], down: [d, ff].
  static Ffn SwiGlu(int d, int ff, const float* w_gate, const float* w_up,
                    const float* w_down);

  // x: [R, d] -> out: [R, d] (overwritten).
  void Forward(const float* x, int64_t rows, float* out) const;
  int64_t Flops() const;

 private:
  enum class Kind { kGeluMlp, kSwiGlu };
  Kind kind_ = Kind::kGeluMlp;
  int d_ = 0;
  int ff_ = 0;
  ops::LinearWeight w_gate_;  // packed copies (ops::LinearWeight)
  ops::LinearWeight w_up_;
  const float* b_up_ = nullptr;
  ops::LinearWeight w_down_;
  const float* b_down_ = nullptr;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STACK_BLOCK_PARTS_H_
