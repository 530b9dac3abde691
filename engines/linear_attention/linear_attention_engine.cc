// Linear attention: softmax replaced by a feature-map kernel, so the keys and
// values fold into one matrix per head, S += φ(k) vᵀ, read as Sᵀφ(q)
// (Katharopoulos et al. 2020; decay γ as in RetNet/GLA; Taylor features as in
// Based). Per-step compute and state are flat in context (efficient and
// compact); recall is bounded by S's d_φ × d_v floats: once the stored pairs
// outnumber what d_φ dimensions can keep apart, their crosstalk drowns the
// answer.
//
// Forward pass for one step of B sessions (the layer stack,
// engines/common/circuit_stack.h):
//   h = E[tokens]                                         [B, d]
//   for each block l:
//     q, k, v = QkvBlock(l).ProjectNormed(norm(h))     [B, qk], [B, qk], [B, d]
//     per session b, per head h:
//       S_h = γ·S_h + φ(k_h) v_hᵀ                         [d_φ, d/H]
//       o_h = S_hᵀφ(q_h)   (normalised: / (φ(q_h)·z_h + ε), z_h = γz_h +
//       φ(k_h))
//     h += o · Woᵀ                                        [B, d]
//   logits = RmsNorm(h) · Eᵀ                              [B, V]
// Feature maps (ops/linear_recurrence.h): identity; elu1 = elu(x) + 1, with
// the normaliser by default; taylor2 = [x, x_i·x_j (i<j), x_i²/√2] so that
// φ(q)·φ(k) = q·k + (q·k)²/2 — no constant term unless normalize=1, which
// adds the constant 1 (weights 1 + s + s²/2 ≥ 1/2).
//
// Preset "circuit" (README, "Engines"): q = g·P·x_t, k = g·P·x_{t-1}, v = x_t with
// P the identity (qk_dim ≥ d-1) or a JL projection, Wo = out_gain·I; a query
// with E[k_i] then reads Σ_j K(q, k_j) E[v_j], the stored answer plus
// crosstalk from every other pair.
//
// Knobs: the common ones (lm_frame.h) plus feature, normalize, heads,
// qk_dim, gamma, qk_gain, out_gain (defaults in matrix_mixers.h).
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/matrix_mixers.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

std::string FeatureText(const LinearAttentionKnobs& la) {
  if (la.feature == "taylor2") {
    return absl::StrCat("taylor2 features [", la.normalize ? "1, " : "",
                        "x, x⊗x/√2]", la.normalize ? " normalised" : "");
  }
  if (la.feature == "elu1") {
    return absl::StrCat("elu+1 features", la.normalize ? " normalised" : "");
  }
  return "identity features";
}

absl::StatusOr<std::unique_ptr<Engine>> CreateLinearAttentionEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const int d = common.d_model;
  const LinearAttentionKnobs la =
      ReadLinearAttentionKnobs(knobs, d, "identity", "out_gain");
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (absl::Status s = ValidateLinearAttention(la, d); !s.ok()) return s;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  MixerStack stack;  // one mixer per block, reading its per-head tensors
  for (int l = 0; l < common.depth; ++l) {
    AddQkvBlockWeights({.d_model = d,
                        .qk_dim = la.qk_dim,
                        .v_dim = d,
                        .init = common.init,
                        .q_gain = la.qk_gain,
                        .k_gain = la.qk_gain,
                        .out_gain = la.out_gain,
                        .zero_output = common.init == "circuit" && l > 0},
                       l, rng, &weights);
    AddLinearAttentionParams(la, l, &weights);
    stack.mixers.push_back(MakeLinearAttentionMixer(weights, l, la, d));
  }

  const int64_t dphi = la.feature_dim();
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "linear_attention", common, &info);
  info.set_description(absl::StrCat(
      "linear attention, ", FeatureText(la), ", state ", la.heads, "x", dphi,
      "x", d / la.heads,
      la.gamma < 1.0f ? absl::StrCat(", decay ", la.gamma) : std::string(),
      "; ", common.init, " weights",
      common.init == "circuit" ? DepthNote(common) : std::string()));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(la.heads);
  info.mutable_shape()->set_head_dim(la.qk_dim / la.heads);
  info.mutable_shape()->set_state_dim(static_cast<int32_t>(dphi));
  info.set_flops_formula(absl::StrCat(
      "L*(4*d*qk + 4*d*d + 4*F*d", la.gamma < 1.0f ? " + F*d" : "",
      la.normalize ? " + 4*H*F + d" : "",
      " + feature map) + 2*V*d  (F = d_phi = ", dphi, " per head; flat in n)"));
  info.set_state_formula(absl::StrCat("4*L*(d + F*d",
                                      la.normalize ? " + H*F" : "",
                                      ")  (F = ", dphi, "; constant)"));
  knobs.RecordIn(&info);
  return MakeCircuitStackEngine(std::move(info), std::move(weights),
                                std::move(stack), spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "linear_attention",
    .factory = CreateLinearAttentionEngine,
    .default_specs = {PresetSpec("linear_attention"),
                      PresetSpec("linear_attention_taylor2",
                                 {{"feature", "taylor2"}})},
    .conformance_knobs =
        {{{"init", "random"}, {"heads", "2"}, {"gamma", "0.9"}, {"depth", "2"}},
         {{"feature", "elu1"}, {"init", "random"}},
         {{"feature", "taylor2"}, {"qk_dim", "8"}, {"normalize", "1"}}},
    .display_order = 30});

}  // namespace
}  // namespace trilemma
