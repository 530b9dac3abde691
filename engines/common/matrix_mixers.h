// The matrix-memory token mixers shared by the linear_attention, delta_net
// and hybrid families, with their knobs and per-head parameter tensors.
//
// Linear attention, per head h (q_h, k_h: [qk/H]; v_h: [dv/H]):
//   S_h ← γ_h·S_h + φ(k_h) v_hᵀ                        [d_φ, dv/H]
//   z_h ← γ_h·z_h + φ(k_h)          (normalised only)  [d_φ]
//   o_h = S_hᵀφ(q_h)  or  S_hᵀφ(q_h) / (φ(q_h)·z_h + ε)
// Gated delta rule, per head h, with k̂ = k_h/|k_h|, q̂ = q_h/|q_h|:
//   M_h ← α_h·M_h(I − β_h k̂ k̂ᵀ) + β_h v_h k̂ᵀ          [dv/H, qk/H]
//   o_h = M_h q̂
// Both update with the current token before reading, as causal attention
// includes the current position.
//
// Tensors for block l: linear attention "layers.<l>.decay" [H] (γ per head);
// delta rule "layers.<l>.alpha" [H] and "layers.<l>.beta" [H].
#ifndef TRILEMMA_ENGINES_COMMON_MATRIX_MIXERS_H_
#define TRILEMMA_ENGINES_COMMON_MATRIX_MIXERS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "engines/common/knobs.h"
#include "engines/common/lm_frame.h"
#include "engines/common/tensor_map.h"
#include "engines/common/token_mixer.h"
#include "engines/ops/linear_recurrence.h"

namespace trilemma {

struct LinearAttentionKnobs {
  std::string feature = "identity";  // identity | elu1 | taylor2
  bool normalize = false;  // divide by φ(q)·z (taylor2 then has φ's constant)
  int heads = 1;
  int qk_dim = 0;         // q/k width over all heads (φ's input)
  float gamma = 1.0f;     // decay of every head (1 = none)
  float qk_gain = 1.0f;   // circuit: scale of q and k before φ
  float out_gain = 1.0f;  // circuit: answer's weight in the residual stream

  ops::FeatureMap map() const { return ops::FeatureMapFromName(feature); }
  // φ's width per head and the matrix state per head, in floats.
  int64_t feature_dim() const;
  int64_t state_floats(int v_dim) const;
};

// Reads feature (default `default_feature`), normalize, heads, qk_dim, gamma
// and qk_gain, and the output gain from the knob `out_gain_name`. Defaults
// depend on the feature map and d_model (the recall-circuit tuning at d_model
// 128, vocab 8192):
//   identity  qk_dim d, qk_gain 1, out_gain 8
//   elu1      qk_dim d, qk_gain 32, normalize 1
//   taylor2   qk_dim 32, qk_gain 4, out_gain 1/16
// and out_gain 256 whenever normalize is 1.
LinearAttentionKnobs ReadLinearAttentionKnobs(
    Knobs& knobs, int d_model, const std::string& default_feature,
    const std::string& out_gain_name);

// INVALID_ARGUMENT naming the knob when heads does not divide qk_dim or
// v_dim, or the normaliser is asked of identity features (their weights can
// cancel to zero).
absl::Status ValidateLinearAttention(const LinearAttentionKnobs& knobs,
                                     int v_dim);

// Adds "layers.<l>.decay" [heads] = gamma.
void AddLinearAttentionParams(const LinearAttentionKnobs& knobs, int layer,
                              TensorMap* weights);

// The mixer for block `layer` (reads its decay tensor from `weights`).
std::unique_ptr<TokenMixer> MakeLinearAttentionMixer(
    const TensorMap& weights, int layer, const LinearAttentionKnobs& knobs,
    int v_dim);

struct DeltaRuleKnobs {
  int heads = 1;
  int qk_dim = 0;         // q/k width over all heads
  float alpha = 1.0f;     // gate (decay) of every head; 1 = DeltaNet
  float beta = 1.0f;      // write strength of every head
  float out_gain = 8.0f;  // circuit: answer's weight in the residual stream
};

// Reads heads, qk_dim (default d_model), alpha, and the write strength and
// output gain from the knobs `beta_name` and `out_gain_name` (default 8/β, so
// a pair just written reads back as ≈ 8·v whatever β).
DeltaRuleKnobs ReadDeltaRuleKnobs(Knobs& knobs, int d_model,
                                  const std::string& beta_name,
                                  const std::string& out_gain_name);

// INVALID_ARGUMENT when heads does not divide qk_dim or v_dim.
absl::Status ValidateDeltaRule(const DeltaRuleKnobs& knobs, int v_dim);

// Adds "layers.<l>.alpha" [heads] = alpha and "layers.<l>.beta" [heads] =
// beta (per-head tensors so a checkpoint's heads may differ).
void AddDeltaRuleParams(const DeltaRuleKnobs& knobs, int layer,
                        TensorMap* weights);

std::unique_ptr<TokenMixer> MakeDeltaRuleMixer(const TensorMap& weights,
                                               int layer,
                                               const DeltaRuleKnobs& knobs,
                                               int v_dim);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_MATRIX_MIXERS_H_
