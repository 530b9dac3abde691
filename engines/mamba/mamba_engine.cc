// Mamba: a stack of selective state-space blocks (Gu & Dao 2023). Each
// session keeps, per block, a conv window [di, K-1] and an SSM state [di, N]:
// constant in context length, so per-step compute and state are flat
// (efficient and compact) and recall is bounded by the state size N.
//
// Forward pass (the layer stack over SelectiveSsmMixer blocks):
//   h = E[tokens]                                        [R, d]
//   for each block l:  h += SelectiveSsm_l(RmsNorm(h, norm))   [R, d]
//   logits = RmsNorm(h, norm_f) · Eᵀ                     [R, V]
// where SelectiveSsm is in_proj → causal conv → SiLU → Δ/B/C → scan with
// A = -exp(A_log) and D → SiLU(z) gate → out_proj (selective_ssm_mixer.h).
//
// Knobs: the common ones (lm_frame.h) plus expand, state_dim, conv_kernel,
// dt_rank and the circuit's delta, forget, in_scale, out_gain.
#include <memory>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/mamba/mamba_preset.h"
#include "engines/mamba/selective_ssm_mixer.h"
#include "engines/registry.h"
#include "engines/stack/mixer.h"

namespace trilemma {
namespace {

// Block l's mixer over the preset's tensors (the stack puts an RMSNorm
// before it; selective_ssm_mixer.h has the block's equations).
std::unique_ptr<Mixer> MambaBlockMixer(const TensorMap& w, int l,
                                       const MambaShape& shape) {
  auto t = [&](const char* name) { return w.Data(LayerTensor(l, name)); };
  return std::make_unique<SelectiveSsmMixer>(
      SelectiveSsmMixer::Config{.d_model = shape.d_model,
                                .d_inner = shape.d_inner,
                                .state = shape.state_dim,
                                .dt_rank = shape.dt_rank,
                                .conv = shape.conv_kernel},
      SelectiveSsmMixer::Weights{.in_proj = t("in_proj"),
                                 .conv = t("conv_w"),
                                 .conv_bias = t("conv_b"),
                                 .x_proj = t("x_proj"),
                                 .dt_proj = t("dt_proj"),
                                 .dt_bias = t("dt_bias"),
                                 .a_log = t("A_log"),
                                 .d_skip = t("D"),
                                 .out_proj = t("out_proj")});
}

absl::StatusOr<std::unique_ptr<Engine>> CreateMambaEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  MambaCircuit circuit;
  const MambaShape shape = ReadMambaShape(common, knobs, &circuit);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  TensorMap weights;
  AddFrameWeights(common, &weights);
  if (absl::Status s = BuildMambaWeights(common, shape, circuit, &weights);
      !s.ok()) {
    return s;
  }

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "mamba", common, &info);
  info.set_description(absl::StrCat(
      "selective SSM (Mamba block: in_proj, causal conv, Δ/A/B/C/D scan, SiLU "
      "gate) with state N=",
      shape.state_dim, " per channel; ", common.init, " weights",
      DepthNote(common)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(1);
  info.mutable_shape()->set_head_dim(shape.d_inner);
  info.mutable_shape()->set_state_dim(shape.state_dim);
  info.set_flops_formula(
      "L*(2*d*2di + 2*K*di + 2*di*(R+2N) + 2*R*di + di*(7N+4) + 2*di*d) + "
      "2*V*d  (di = expand*d; flat in n)");
  info.set_state_formula("L*di*(K-1 + N)*4  (constant)");
  knobs.RecordIn(&info);
  return MakePresetStackEngine(
      std::move(info), std::move(weights), shape.layers,
      [&](const TensorMap& w, int l) { return MambaBlockMixer(w, l, shape); },
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "mamba",
    .factory = CreateMambaEngine,
    .default_specs = {PresetSpec("mamba")},
    .conformance_knobs = {{{"init", "random"}, {"state_dim", "4"}},
                          {{"init", "random"},
                           {"depth", "2"},
                           {"conv_kernel", "3"},
                           {"expand", "1"}},
                          {{"depth", "2"}}},
    .display_order = 40});

}  // namespace
}  // namespace trilemma
