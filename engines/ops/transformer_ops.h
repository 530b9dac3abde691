// Per-row kernels of the transformer and SSM blocks that checkpoints use:
// LayerNorm with bias, exact (erf) GELU, SiLU gating, bias add, rotary
// position embedding (rotate-half form, optionally over the first dims of a
// head only) and softmax attention with grouped KV heads.
//
// Thread-safe (pure functions over caller-owned memory).
#ifndef TRILEMMA_ENGINES_OPS_TRANSFORMER_OPS_H_
#define TRILEMMA_ENGINES_OPS_TRANSFORMER_OPS_H_

#include <cstdint>
#include <vector>

#include "engines/state/kv_block_table.h"

namespace trilemma::ops {

// LayerNorm of each of `rows` rows of width n:
//   y = (x - mean) / sqrt(var + eps) ⊙ g + b      (b may be null)
// y may alias x.
void LayerNorm(const float* x, const float* g, const float* b, float eps,
               int64_t rows, int64_t n, float* y);

// y[r] += bias for each of `rows` rows of width n.
void AddBias(const float* bias, int64_t rows, int64_t n, float* y);

// x = GELU(x) = x·Φ(x), the exact erf form, in place over n floats.
void GeluErf(float* x, int64_t n);

// a = SiLU(a) ⊙ b over n floats (SwiGLU's gate).
void SiluMul(float* a, const float* b, int64_t n);

// Rotary tables for one model: inv_freq[i] = theta^(-2i/rotary_dims).
class Rotary {
 public:
  // REQUIRES: rotary_dims even, 0 <= rotary_dims <= head_dim.
  Rotary(int head_dim, int rotary_dims, double theta);

  // Rotates the first rotary_dims dims of each of `heads` heads of x
  // ([heads][head_dim]) for `position`, rotate-half style: dims i and
  // i + rotary_dims/2 form a pair turned by position·inv_freq[i].
  // `cos_sin` is scratch of rotary_dims floats filled by Prepare.
  void Prepare(int64_t position, float* cos_sin) const;
  void Apply(const float* cos_sin, int heads, float* x) const;

  int head_dim() const { return head_dim_; }
  int rotary_dims() const { return rotary_dims_; }

 private:
  int head_dim_;
  int rotary_dims_;
  std::vector<double> inv_freq_;
};

// Softmax attention of one query row over slots [0, slots) of `layer`:
// q is [q_heads][head_dim]; the table's rows are [kv_heads][head_dim] keys and
// values; query head h reads KV head h / (q_heads / kv_heads) (grouped-query
// attention; kv_heads == q_heads is plain multi-head).
//   o_h = Σ_s softmax_s(scale · q_h·k_{s,g}) v_{s,g}
// out is [q_heads][head_dim]; scratch is thread-local (AttendKv).
// REQUIRES: slots >= 1; q_heads % kv_heads == 0;
//           kv.kv_dim() == kv_heads * head_dim.
void AttendGrouped(const float* q, int q_heads, int kv_heads, int head_dim,
                   float scale, const KvBlockTable& kv, int layer,
                   int64_t slots, float* out);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_TRANSFORMER_OPS_H_
