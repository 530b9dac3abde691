// SelectiveSsmMixer: the Mamba (v1) mixer as Hugging Face's MambaForCausalLM
// lays it out — in_proj to x and gate z, a causal depthwise conv over x,
// input-dependent Δ, B, C, the selective scan, a D skip and a SiLU gate.
//
// Per row (di = d_inner, N = state size, R = dt_rank, K = conv kernel):
//   x, z = split(in·Wᵢₙᵀ (+b))                      [di], [di]
//   x    = SiLU(conv_K(x) (+conv bias))             [di]   (window: K−1 rows)
//   Δ_r, B, C = split(x·W_xᵀ)                        [R], [N], [N]
//   Δ    = softplus(Δ_r·W_Δᵀ + b_Δ)                  [di]
//   h    = exp(Δ·A)⊙h + Δ·B·xᵀ;  A = −exp(A_log)     [di, N]
//   y    = (h·C + D⊙x) ⊙ SiLU(z)                     [di]
//   out  = y·W_outᵀ (+b)                             [d]
// Fixed state per session: the conv window [di, K−1] then h [di, N].
//
// Example:
//   SelectiveSsmMixer::Config c{.d_model = 768, .d_inner = 1536,
//                               .state = 16, .dt_rank = 48, .conv = 4};
//   auto mixer = std::make_unique<SelectiveSsmMixer>(c, weights);
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_MAMBA_SELECTIVE_SSM_MIXER_H_
#define TRILEMMA_ENGINES_MAMBA_SELECTIVE_SSM_MIXER_H_

#include <vector>

#include "engines/ops/matmul.h"
#include "engines/stack/mixer.h"

namespace trilemma {

class SelectiveSsmMixer final : public Mixer {
 public:
  struct Config {
    int d_model = 0;
    int d_inner = 0;
    int state = 0;
    int dt_rank = 0;
    int conv = 0;
  };
  // Borrowed; the biases marked optional may be null.
  struct Weights {
    const float* in_proj = nullptr;        // [2·di, d]
    const float* in_proj_bias = nullptr;   // [2·di], optional
    const float* conv = nullptr;           // [di, K]  (conv1d [di, 1, K])
    const float* conv_bias = nullptr;      // [di], optional
    const float* x_proj = nullptr;         // [R + 2N, di]
    const float* dt_proj = nullptr;        // [di, R]
    const float* dt_bias = nullptr;        // [di]
    const float* a_log = nullptr;          // [di, N]
    const float* d_skip = nullptr;         // [di]
    const float* out_proj = nullptr;       // [d, di]
    const float* out_proj_bias = nullptr;  // [d], optional
  };

  SelectiveSsmMixer(const Config& config, const Weights& weights);
  SelectiveSsmMixer(const SelectiveSsmMixer&) = delete;
  SelectiveSsmMixer& operator=(const SelectiveSsmMixer&) = delete;

  MixerStateDecl state() const override {
    return {.fixed_floats =
                int64_t{config_.d_inner} * (config_.conv - 1 + config_.state),
            .kv_dim = 0};
  }
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Config config_;
  Weights w_;
  // Packed copies of w_'s matrices (ops::LinearWeight).
  ops::LinearWeight in_proj_, x_proj_, dt_proj_, out_proj_;
  std::vector<float> a_;               // −exp(A_log), [di, N]
  std::vector<float> zero_conv_bias_;  // stands in for a missing conv bias
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_MAMBA_SELECTIVE_SSM_MIXER_H_
