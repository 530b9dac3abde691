// Mamba2Mixer: the Mamba-2 (SSD) mixer of Dao & Gu 2024 as Hugging Face's
// Mamba2ForCausalLM lays it out, in its recurrent form, on the layer stack
// (docs/engines.md).
//
// Per row (di = H·P inner width, H heads of P channels, N state size, G
// groups of B/C shared by H/G heads each, K conv kernel):
//   z, xBC, dt = split(x·W_inᵀ (+b))               [di], [di + 2GN], [H]
//   xBC = SiLU(conv_K(xBC) (+conv bias))            (window: K−1 rows)
//   x, B, C = split(xBC)                            [di], [G, N], [G, N]
//   per head h (group g = h / (H/G)):
//     Δ_h = clamp(softplus(dt_h + dt_bias_h), dt_min, dt_max)
//     S_h ← exp(Δ_h·A_h)·S_h + Δ_h·x_h B_gᵀ;  A_h = −exp(A_log_h)  [P, N]
//     y_h = S_h C_g + D_h·x_h                       [P]
//   y = RMSNorm_G(y ⊙ SiLU(z)) ⊙ w_norm             (gate before the norm,
//       rms over each of the G groups of di/G channels; without rms_norm:
//       y ⊙ SiLU(z))
//   out = y·W_outᵀ (+b)                             [d]
// Fixed state per session: the conv window [di + 2GN, K−1], then S
// [H, P, N].
//
// Example:
//   Mamba2Mixer::Config c{.d_model = 768, .d_inner = 1536, .heads = 24,
//                         .head_dim = 64, .state = 128, .groups = 1,
//                         .conv = 4};
//   auto mixer = std::make_unique<Mamba2Mixer>(c, weights);
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_MAMBA2_MAMBA2_MIXER_H_
#define TRILEMMA_ENGINES_MAMBA2_MAMBA2_MIXER_H_

#include <cstdint>
#include <vector>

#include "engines/ops/matmul.h"
#include "engines/stack/mixer.h"

namespace trilemma {

class Mamba2Mixer final : public Mixer {
 public:
  struct Config {
    int d_model = 0;
    int d_inner = 0;  // heads · head_dim
    int heads = 0;
    int head_dim = 0;
    int state = 0;   // N
    int groups = 1;  // G
    int conv = 4;
    bool rms_norm = true;
    float norm_eps = 1e-5f;
    float dt_min = 0.0f;  // Δ clamped to [dt_min, dt_max] (time_step_limit)
    float dt_max = 1e30f;
  };
  // Borrowed; the ones marked optional may be null.
  struct Weights {
    const float* in_proj = nullptr;        // [di + conv_dim + H, d]
    const float* in_proj_bias = nullptr;   // optional
    const float* conv = nullptr;           // [conv_dim, K] (conv1d [C, 1, K])
    const float* conv_bias = nullptr;      // [conv_dim], optional
    const float* dt_bias = nullptr;        // [H]
    const float* a_log = nullptr;          // [H]
    const float* d_skip = nullptr;         // [H]
    const float* norm = nullptr;           // [di], null without rms_norm
    const float* out_proj = nullptr;       // [d, di]
    const float* out_proj_bias = nullptr;  // [d], optional
  };

  // REQUIRES: heads % groups == 0, d_inner == heads · head_dim.
  Mamba2Mixer(const Config& config, const Weights& weights);
  Mamba2Mixer(const Mamba2Mixer&) = delete;
  Mamba2Mixer& operator=(const Mamba2Mixer&) = delete;

  MixerStateDecl state() const override;
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Config config_;
  Weights w_;
  int64_t conv_dim_, proj_width_;
  // Packed copies of w_'s matrices (ops::LinearWeight).
  ops::LinearWeight in_proj_, out_proj_;
  std::vector<float> neg_a_;           // −exp(A_log) [H]
  std::vector<float> zero_conv_bias_;  // stands in for a missing conv bias
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_MAMBA2_MAMBA2_MIXER_H_
