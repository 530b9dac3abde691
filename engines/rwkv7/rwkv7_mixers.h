// The two halves of an RWKV-7 ("Goose") layer as layer-stack mixers
// (engines/stack/mixer.h), following flash-linear-attention's RWKV7Attention
// and RWKV7FeedForward. A layer is two stack blocks, each {LayerNorm, mixer,
// no FFN}: the time mix, then the channel mix. The channel mix is a mixer,
// not a stack Ffn, because its token shift keeps a row of state per session
// (docs/engines.md, "rwkv7").
//
// Time mix, per row (d = d_model, H heads of dk = d/H key and dv value
// channels, x the normed input, prev the previous row's x, zero at first):
//   x_c  = x + (prev − x) ⊙ μ_c         for c in r, w, k, v, a, g       [d]
//   r    = W_r x_r,  k = W_k x_k,  v = W_v x_v                 [H·dk], [H·dv]
//   w    = −e^{−1/2} · σ(W_w2 tanh(W_w1 x_w) + b_w)   (log decay)  [H·dk]
//   layer 0: v₀ = v (value_first, handed to the later layers of the token)
//   else:    v  = v + (v₀ − v) ⊙ σ(W_v2 W_v1 x_v + b_v)             [H·dv]
//   a    = σ(W_a2 W_a1 x_a + b_a)        (in-context learning rate) [H·dk]
//   g    = W_g2 σ(W_g1 x_g)              (output gate)              [H·dv]
//   kk   = per-head L2 normalise(k ⊙ k_k)                           [H·dk]
//   k    = k ⊙ (1 + (a − 1) ⊙ k_a)                                  [H·dk]
//   per head: Sᵀ ← Sᵀ(diag(e^w) − kk (a⊙kk)ᵀ) + v kᵀ,  o = Sᵀ r    [dv]
//   o    = GroupNorm_H(o; eps = dk·norm_eps)                        [H·dv]
//   o_h += (Σ r_h ⊙ k_h ⊙ r_k,h) v_h   (the current token's bonus)
//   out  = W_o (o ⊙ g)                                              [d]
// Fixed state: prev [d], then S [H][dk][dv].
//
// Channel mix, per row: x_k = x + (prev − x) ⊙ μ_k;
//   out = W_value · max(W_key x_k, 0)²                 [ff] -> [d]
// Fixed state: prev [d].
//
// value_first crosses layers within one Forward: the layer-0 time mix leaves
// its v rows in a thread-local buffer that the later layers of the same
// Forward read. The layer stack runs every block over the same rows in order
// on one thread (layer_stack_engine.h), which is what this relies on.
//
// Example:
//   auto mix = std::make_unique<Rwkv7TimeMix>(shape, /*layer=*/0, weights);
//   auto ffn = std::make_unique<Rwkv7ChannelMix>(shape, channel_weights);
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_RWKV7_RWKV7_MIXERS_H_
#define TRILEMMA_ENGINES_RWKV7_RWKV7_MIXERS_H_

#include <cstdint>

#include "engines/ops/matmul.h"
#include "engines/stack/mixer.h"

namespace trilemma {

struct Rwkv7Shape {
  int d_model = 0;
  int vocab = 0;
  int layers = 0;
  int heads = 0;
  int head_dim = 0;   // dk = d_model / heads
  int value_dim = 0;  // H·dv over all heads
  int ff = 0;         // channel-mix width
  int w_rank = 0;     // decay LoRA
  int a_rank = 0;     // in-context learning rate LoRA
  int v_rank = 0;     // value-first mix LoRA (layers > 0)
  int g_rank = 0;     // output gate LoRA
  float norm_eps = 1e-5f;
  bool norm_bias = true;   // LayerNorms carry a bias
  bool norm_first = true;  // layer 0 LayerNorms the embedding (pre_norm)
  // kk's normalisation: true is fla's fused l2_norm, x / sqrt(|x|² + 1e-6);
  // false is F.normalize, x / max(|x|, 1e-12).
  bool fused_l2 = true;

  int head_v_dim() const { return value_dim / heads; }
};

class Rwkv7TimeMix final : public Mixer {
 public:
  // Borrowed. LoRA matrices are [rank, d] (down) and [out, rank] (up);
  // the v LoRA is null for layer 0.
  struct Weights {
    const float* mu[6] = {};           // x_r, x_w, x_k, x_v, x_a, x_g: [d] each
    const float* k_k = nullptr;        // [H·dk]
    const float* k_a = nullptr;        // [H·dk]
    const float* r_k = nullptr;        // [H, dk]
    const float* r_proj = nullptr;     // [H·dk, d]
    const float* k_proj = nullptr;     // [H·dk, d]
    const float* v_proj = nullptr;     // [H·dv, d]
    const float* o_proj = nullptr;     // [d, H·dv]
    const float* w1 = nullptr;         // [Rw, d]
    const float* w2 = nullptr;         // [H·dk, Rw]
    const float* w_bias = nullptr;     // [H·dk]
    const float* a1 = nullptr;         // [Ra, d]
    const float* a2 = nullptr;         // [H·dk, Ra]
    const float* a_bias = nullptr;     // [H·dk]
    const float* v1 = nullptr;         // [Rv, d]
    const float* v2 = nullptr;         // [H·dv, Rv]
    const float* v_bias = nullptr;     // [H·dv]
    const float* g1 = nullptr;         // [Rg, d]
    const float* g2 = nullptr;         // [H·dv, Rg]
    const float* gn_weight = nullptr;  // [H·dv]
    const float* gn_bias = nullptr;    // [H·dv]
  };

  Rwkv7TimeMix(const Rwkv7Shape& shape, int layer, const Weights& weights);
  Rwkv7TimeMix(const Rwkv7TimeMix&) = delete;
  Rwkv7TimeMix& operator=(const Rwkv7TimeMix&) = delete;

  MixerStateDecl state() const override;
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Rwkv7Shape shape_;
  int layer_;
  Weights w_;
  // Packed copies of w_'s projections (ops::LinearWeight); the LoRAs, a few
  // dozen rows each, stay plain.
  ops::LinearWeight r_proj_, k_proj_, v_proj_, o_proj_;
};

class Rwkv7ChannelMix final : public Mixer {
 public:
  struct Weights {
    const float* mu_k = nullptr;   // [d]
    const float* key = nullptr;    // [ff, d]
    const float* value = nullptr;  // [d, ff]
  };

  Rwkv7ChannelMix(const Rwkv7Shape& shape, const Weights& weights)
      : shape_(shape),
        w_(weights),
        key_(weights.key, shape.ff, shape.d_model),
        value_(weights.value, shape.d_model, shape.ff) {}

  MixerStateDecl state() const override {
    return {.fixed_floats = shape_.d_model, .kv_dim = 0};
  }
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Rwkv7Shape shape_;
  Weights w_;
  ops::LinearWeight key_, value_;  // packed copies of w_.key and w_.value
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_RWKV7_RWKV7_MIXERS_H_
