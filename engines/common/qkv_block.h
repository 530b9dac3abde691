// QkvBlock: the projections around a token mixer, shared by every engine whose
// mixer reads queries, keys and values (attention, windows, eviction, linear
// attention, delta rule, memory). Standard pre-norm residual block with an
// RWKV-style token shift:
//
//   xn      = RmsNorm(h, norm)                       [B, d]
//   q_in    = shift_q[0] ⊙ xn + shift_q[1] ⊙ prev    [B, d]  (prev = xn at t-1)
//   k_in, v_in likewise with shift_k, shift_v
//   q = q_in·Wqᵀ  [B, qk]   k = k_in·Wkᵀ  [B, qk]   v = v_in·Wvᵀ  [B, dv]
//   ... mixer(q, k, v) -> o [B, dv] ...
//   h += o·Woᵀ                                       [B, d]
//
// Tensors, for block l (prefix "layers.<l>."): norm [d], shift_q/shift_k/
// shift_v [2, d], wq [qk, d], wk [qk, d], wv [dv, d], wo [d, dv].
//
// Thread-safe: immutable after construction; scratch is the caller's.
#ifndef TRILEMMA_ENGINES_COMMON_QKV_BLOCK_H_
#define TRILEMMA_ENGINES_COMMON_QKV_BLOCK_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engines/common/tensor_map.h"

namespace trilemma {

// How a preset builds one block's weights.
struct QkvBlockSpec {
  int d_model = 0;
  int qk_dim = 0;  // total query/key width (heads * head_dim)
  int v_dim = 0;   // total value width
  // "circuit": q = q_gain·P·x_t, k = k_gain·P·x_{t-1}, v = v_gain·P_v·x_t,
  //            Wo = out_gain·(P_v)ᵀ, where P drops the bias channel and, when
  //            qk_dim < d-1, is a seeded Gaussian (JL) projection.
  // "random":  every tensor drawn N(0, 1/fan_in) (norm, shifts ~ 1 ± 0.1).
  std::string init = "circuit";
  float q_gain = 1.0f;
  float k_gain = 1.0f;
  float v_gain = 1.0f;
  float out_gain = 1.0f;
  // Zero output projection: a `depth` filler block.
  bool zero_output = false;
};

// Adds block `layer`'s tensors to `weights`.
void AddQkvBlockWeights(const QkvBlockSpec& spec, int layer,
                        std::mt19937_64& rng, TensorMap* weights);

// Per-batch scratch for QkvBlock; sized once per step.
struct QkvScratch {
  std::vector<float> q_in, k_in, v_in, q, k, v, o;
  void Resize(int64_t batch, int d, int qk, int dv);
};

class QkvBlock {
 public:
  // REQUIRES: `weights` holds block `layer`'s tensors and outlives this.
  QkvBlock(const TensorMap& weights, int layer);

  int d_model() const { return d_; }
  int qk_dim() const { return qk_; }
  int v_dim() const { return dv_; }

  // Applies the token shift to xn [B, d] (normed with norm(); the layer
  // stack applies the block norm itself) against prev[b] (each d floats, the
  // previous token's normed input for session b, updated in place to this
  // token's), and projects into s->q, s->k, s->v.
  void ProjectNormed(const float* xn, int64_t batch, float* const* prev,
                     QkvScratch* s) const;

  // out [B, d] = s->o [B, dv] · Woᵀ.
  void OutputTo(int64_t batch, QkvScratch* s, float* out) const;

  // The block norm's gain [d] (RMSNorm with kRmsNormEps).
  const float* norm() const { return norm_; }

  // FLOPs of Project + Output for one row.
  int64_t Flops() const {
    return 2 * int64_t{d_} * (2 * qk_ + dv_) + 2 * int64_t{dv_} * d_;
  }

 private:
  const float* norm_;
  const float* shift_q_;
  const float* shift_k_;
  const float* shift_v_;
  const float* wq_;
  const float* wk_;
  const float* wv_;
  const float* wo_;
  int d_;
  int qk_;
  int dv_;
};

// "layers.<l>.<name>"
std::string LayerTensor(int layer, const std::string& name);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_QKV_BLOCK_H_
