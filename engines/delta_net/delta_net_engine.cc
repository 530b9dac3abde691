// DeltaNet with the gated delta rule (Schlag et al. 2021; Yang et al. 2024,
// "Gated Delta Networks"): a matrix memory per head that, instead of adding
// v kᵀ blindly as linear attention does, first removes what it currently
// answers for k — an online least-squares write. With unit keys and β = 1
// the memory answers the newest key exactly; older pairs are eroded only as
// far as later keys overlap theirs, so about d_k pairs stay clean. Per-step
// compute and state are flat in context (efficient and compact).
//
// Forward pass for one step of B sessions (the layer stack,
// engines/common/circuit_stack.h):
//   h = E[tokens]                                         [B, d]
//   for each block l:
//     q, k, v = QkvBlock(l).ProjectNormed(norm(h))     [B, qk], [B, qk], [B, d]
//     per session b, per head h (k̂ = k_h/|k_h|, q̂ = q_h/|q_h|):
//       M_h = α·M_h(I − β k̂ k̂ᵀ) + β v_h k̂ᵀ               [d/H, qk/H]
//       o_h = M_h q̂                                       [d/H]
//     h += o · Woᵀ                                        [B, d]
//   logits = RmsNorm(h) · Eᵀ                              [B, V]
//
// Preset "circuit" (README, "Engines"): q = P·x_t, k = P·x_{t-1}, v = x_t (P drops
// the bias channel; a JL projection when qk_dim < d-1), Wo = out_gain·I, so
// each value position writes E[v_i] under the key E[k_i].
//
// Knobs: the common ones (lm_frame.h) plus heads, qk_dim (default d_model),
// alpha (gate, 1 = DeltaNet), beta (write strength), out_gain (default 8/β).
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

absl::StatusOr<std::unique_ptr<Engine>> CreateDeltaNetEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const int d = common.d_model;
  const DeltaRuleKnobs dr = ReadDeltaRuleKnobs(knobs, d, "beta", "out_gain");
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (absl::Status s = ValidateDeltaRule(dr, d); !s.ok()) return s;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  MixerStack stack;  // one mixer per block, reading its per-head tensors
  for (int l = 0; l < common.depth; ++l) {
    AddQkvBlockWeights({.d_model = d,
                        .qk_dim = dr.qk_dim,
                        .v_dim = d,
                        .init = common.init,
                        .out_gain = dr.out_gain,
                        .zero_output = common.init == "circuit" && l > 0},
                       l, rng, &weights);
    AddDeltaRuleParams(dr, l, &weights);
    stack.mixers.push_back(MakeDeltaRuleMixer(weights, l, dr, d));
  }

  const int dk = dr.qk_dim / dr.heads;
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "delta_net", common, &info);
  info.set_description(absl::StrCat(
      "gated delta rule (alpha ", dr.alpha, ", beta ", dr.beta,
      ") with L2-normalised keys and queries, state ", dr.heads, "x", dk, "x",
      d / dr.heads, "; ", common.init, " weights",
      common.init == "circuit" ? DepthNote(common) : std::string()));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(dr.heads);
  info.mutable_shape()->set_head_dim(dk);
  info.mutable_shape()->set_state_dim(dk);
  info.set_flops_formula(
      "L*(4*d*qk + 4*d*d + 6*qk*d/H (+ qk*d/H when alpha < 1) + 7*qk + 2*d) + "
      "2*V*d  "
      "(flat in n)");
  info.set_state_formula("4*L*(d + qk*d/H)  (constant)");
  knobs.RecordIn(&info);
  return MakeCircuitStackEngine(std::move(info), std::move(weights),
                                std::move(stack), spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "delta_net",
    .factory = CreateDeltaNetEngine,
    .default_specs = {PresetSpec("delta_net")},
    .conformance_knobs = {{{"init", "random"},
                           {"heads", "2"},
                           {"alpha", "0.9"},
                           {"beta", "0.5"},
                           {"depth", "2"}},
                          {{"qk_dim", "12"}}},
    .display_order = 50});

}  // namespace
}  // namespace trilemma
