// RotaryAttentionMixer: causal softmax self-attention with rotary position
// embedding and grouped KV heads — the mixer of GPT-NeoX (Pythia) and Llama
// checkpoints. Keys are rotated before they are stored, so the KV policy
// (paged or ring window) stays order-free.
//
// Per row (position p):
//   q = x·Wqᵀ (+bq) [H·hd]   k = x·Wkᵀ (+bk) [G·hd]   v = x·Wvᵀ (+bv) [G·hd]
//   q, k: rotate the first rotary_dims dims of each head by p (rotate-half)
//   store k, v at the row's slot; o_h = Σ_s softmax(q_h·k_s,g / √hd) v_s,g
//   out = o·Woᵀ (+bo)                                               [d]
// GPT-NeoX fuses q, k, v into one [3·d, d] weight interleaved per head
// ([H][q|k|v][hd]); `fused_qkv` reads that layout in place.
//
// Example:
//   RotaryAttentionMixer::Config c{.d_model = 768, .heads = 12, .kv_heads = 12,
//                                  .head_dim = 64, .rotary_dims = 16};
//   auto mixer = std::make_unique<RotaryAttentionMixer>(c, weights);
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_ATTENTION_ROTARY_ATTENTION_MIXER_H_
#define TRILEMMA_ENGINES_ATTENTION_ROTARY_ATTENTION_MIXER_H_

#include "engines/ops/matmul.h"
#include "engines/ops/transformer_ops.h"
#include "engines/stack/mixer.h"

namespace trilemma {

class RotaryAttentionMixer final : public Mixer {
 public:
  struct Config {
    int d_model = 0;
    int heads = 0;
    int kv_heads = 0;  // == heads without GQA
    int head_dim = 0;
    int rotary_dims = 0;  // even; <= head_dim
    double rope_theta = 10000.0;
  };
  // Borrowed weight pointers; biases may be null.
  struct Weights {
    const float* qkv = nullptr;  // fused [H·3·hd, d] (GPT-NeoX), or null
    const float* qkv_bias = nullptr;
    const float* q = nullptr;  // [H·hd, d] when not fused
    const float* k = nullptr;  // [G·hd, d]
    const float* v = nullptr;  // [G·hd, d]
    const float* q_bias = nullptr;
    const float* k_bias = nullptr;
    const float* v_bias = nullptr;
    const float* o = nullptr;  // [d, H·hd]
    const float* o_bias = nullptr;
  };

  // REQUIRES: heads % kv_heads == 0; fused weights only when
  //           kv_heads == heads.
  RotaryAttentionMixer(const Config& config, const Weights& weights);

  MixerStateDecl state() const override {
    return {.fixed_floats = 0, .kv_dim = config_.kv_heads * config_.head_dim};
  }
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Config config_;
  Weights w_;
  // Packed copies of w_'s matrices (ops::LinearWeight); empty when absent.
  ops::LinearWeight qkv_, q_, k_, v_, o_;
  ops::Rotary rotary_;
  float scale_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_ATTENTION_ROTARY_ATTENTION_MIXER_H_
