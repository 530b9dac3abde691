#include "engines/stack/block_parts.h"

#include <vector>

#include "engines/ops/matmul.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {

void Norm::Apply(const float* x, int64_t rows, float* y) const {
  if (kind == Kind::kRms) {
    ops::RmsNorm(x, weight, eps, rows, width, y);
  } else {
    ops::LayerNorm(x, weight, bias, eps, rows, width, y);
  }
}

Ffn Ffn::GeluMlp(int d, int ff, const float* w_up, const float* b_up,
                 const float* w_down, const float* b_down) {
  Ffn f;
  f.kind_ = Kind::kGeluMlp;
  f.d_ = d;
  f.ff_ = ff;
  f.w_up_ = ops::LinearWeight(w_up, ff, d);
  f.b_up_ = b_up;
  f.w_down_ = ops::LinearWeight(w_down, d, ff);
  f.b_down_ = b_down;
  return f;
}

Ffn Ffn::SwiGlu(int d, int ff, const float* w_gate, const float* w_up,
                const float* w_down) {
  Ffn f;
  f.kind_ = Kind::kSwiGlu;
  f.d_ = d;
  f.ff_ = ff;
  f.w_gate_ = ops::LinearWeight(w_gate, ff, d);
  f.w_up_ = ops::LinearWeight(w_up, ff, d);
  f.w_down_ = ops::LinearWeight(w_down, d, ff);
  return f;
}

void Ffn::Forward(const float* x, int64_t rows, float* out) const {
  struct Scratch {
    std::vector<float> up, gate;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& up = buffers.up;
  std::vector<float>& gate = buffers.gate;
  up.resize(rows * ff_);
  if (kind_ == Kind::kGeluMlp) {
    ops::Linear(x, rows, w_up_, up.data(), b_up_,
                ops::Activation::kGeluErf);  // [R, ff]
  } else {
    ops::Linear(x, rows, w_up_, up.data());  // [R, ff]
    gate.resize(rows * ff_);
    ops::Linear(x, rows, w_gate_, gate.data());  // [R, ff]
    ops::SiluMul(gate.data(), up.data(), rows * ff_);
    up.swap(gate);
  }
  ops::Linear(up.data(), rows, w_down_, out, b_down_);  // [R, d]
}

int64_t Ffn::Flops() const {
  const int64_t mats = kind_ == Kind::kSwiGlu ? 3 : 2;
  return mats * 2 * int64_t{d_} * ff_;
}

}  // namespace trilemma
