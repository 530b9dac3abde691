// GatedDeltaNetMixer: the Gated DeltaNet token mixer (Yang, Kautz &
// Hatamizadeh 2024) as flash-linear-attention's GatedDeltaNet layer computes
// it in its recurrent form, on the layer stack (docs/engines.md).
//
// Per row (H key heads of dk, HV value heads of dv, HV a multiple of H;
// kd = H·dk, vd = HV·dv; value head j reads key head j / (HV/H)):
//   q, k, v = x·W_qᵀ, x·W_kᵀ, x·W_vᵀ                 [kd], [kd], [vd]
//   q, k, v = SiLU(conv_K(q)), SiLU(conv_K(k)), SiLU(conv_K(v))
//             (depthwise causal convs, window K−1 rows; plain SiLU when K = 0)
//   q_h, k_h = q_h / sqrt(|q_h|² + 1e-6), likewise k_h   per key head
//   a, b = x·W_aᵀ, x·W_bᵀ                            [HV], [HV]
//   g_j  = −exp(A_log_j) · softplus(a_j + dt_bias_j)  (log of the decay)
//   β_j  = sigmoid(b_j)  (×2 when negative eigenvalues are allowed)
//   S_j ← exp(g_j)·S_j;  S_j ← S_j + β_j (v_j − S_j k_h) k_hᵀ   [dv, dk]
//   o_j  = S_j q_h / sqrt(dk)                          [dv]
//   o_j  = RMSNorm(o_j) ⊙ w_o ⊙ SiLU(x·W_gᵀ)_j        (gate optional)
//   out  = o·W_oᵀ                                      [d]
// Fixed state per session: the conv windows [(2kd + vd), K−1], then S
// [HV, dv, dk].
//
// Example:
//   GatedDeltaNetMixer::Config c{.d_model = 768, .heads = 6, .v_heads = 6,
//                                .head_k_dim = 96, .head_v_dim = 192,
//                                .conv = 4};
//   auto mixer = std::make_unique<GatedDeltaNetMixer>(c, weights);
//
// Thread-safe: immutable; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_GATED_DELTANET_GATED_DELTANET_MIXER_H_
#define TRILEMMA_ENGINES_GATED_DELTANET_GATED_DELTANET_MIXER_H_

#include <cstdint>
#include <vector>

#include "engines/ops/matmul.h"
#include "engines/stack/mixer.h"

namespace trilemma {

class GatedDeltaNetMixer final : public Mixer {
 public:
  struct Config {
    int d_model = 0;
    int heads = 1;    // H, query/key heads
    int v_heads = 1;  // HV, value heads (a multiple of H)
    int head_k_dim = 0;
    int head_v_dim = 0;
    int conv = 4;             // short-conv kernel; 0 = no short convs
    bool gate = true;         // output gate (g_proj); else plain RMSNorm
    bool neg_eigval = false;  // β = 2·sigmoid(b)
    float norm_eps = 1e-5f;   // of the output RMSNorm
  };
  // Borrowed (the engine's TensorMap owns them); g_proj is null without the
  // gate, the convs are null when conv == 0.
  struct Weights {
    const float* q_proj = nullptr;   // [kd, d]
    const float* k_proj = nullptr;   // [kd, d]
    const float* v_proj = nullptr;   // [vd, d]
    const float* a_proj = nullptr;   // [HV, d]
    const float* b_proj = nullptr;   // [HV, d]
    const float* g_proj = nullptr;   // [vd, d]
    const float* a_log = nullptr;    // [HV]
    const float* dt_bias = nullptr;  // [HV]
    const float* q_conv = nullptr;   // [kd, K]  (conv1d [kd, 1, K])
    const float* k_conv = nullptr;   // [kd, K]
    const float* v_conv = nullptr;   // [vd, K]
    const float* o_norm = nullptr;   // [dv]
    const float* o_proj = nullptr;   // [d, vd]
  };

  // REQUIRES: v_heads % heads == 0; every non-optional weight set.
  GatedDeltaNetMixer(const Config& config, const Weights& weights);
  // Not copyable: in_proj_ points into w_in_.
  GatedDeltaNetMixer(const GatedDeltaNetMixer&) = delete;
  GatedDeltaNetMixer& operator=(const GatedDeltaNetMixer&) = delete;

  MixerStateDecl state() const override;
  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override;
  int64_t Flops(int64_t held) const override;

 private:
  Config config_;
  Weights w_;
  int64_t key_dim_, value_dim_, conv_channels_, proj_width_;
  // q|k|v|g|a|b projections stacked into one [proj_width, d] matrix so a
  // batch projects with one matmul; conv taps stacked likewise [2kd+vd, K].
  std::vector<float> w_in_;
  // Packed copies of w_in_ and w_.o_proj (ops::LinearWeight).
  ops::LinearWeight in_proj_, o_proj_;
  std::vector<float> w_conv_;
  std::vector<float> zero_conv_bias_;
  std::vector<float> neg_a_;  // −exp(A_log) [HV]
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_GATED_DELTANET_GATED_DELTANET_MIXER_H_
