// Full softmax attention: every token's key and value are kept in a paged KV
// cache, so recall holds at any context length while per-step compute and
// state grow linearly with it — the "recall" corner alone.
//
// Preset "circuit" (README, "Engines"): q = β·x_t, k = x_{t-1}, v = x_t over
// the codebook, so a query with key code E[k_i] attends to the position where
// v_i followed k_i and reads back E[v_i]; Wo = out_gain·I lifts the answer
// above the query's own code in the tied readout.
//
// Knobs: the common ones (lm_frame.h) plus heads, beta, out_gain, kv_dtype
// (f32, f16, int8, int4: how KV rows are stored; docs/kv_compression.md).
// Presets attention_int8 and attention_int4 are full attention over int8 and
// int4 KV.
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/softmax_preset.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

absl::StatusOr<std::unique_ptr<Engine>> CreateAttentionEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const SoftmaxPreset preset = ReadSoftmaxKnobs(knobs);
  const KvFormat kv_format =
      ReadKvDtypeKnob(knobs, preset.head_dim(common.d_model));
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  const int d = common.d_model;
  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  if (absl::Status s =
          AddSoftmaxBlocks(common, preset, 0, common.depth, rng, &weights);
      !s.ok()) {
    return s;
  }

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "attention", common, &info);
  info.set_description(absl::StrCat(
      "full softmax attention over a paged KV cache; ", common.init, " weights",
      DepthNote(common), KvDtypeNote(kv_format)));
  info.mutable_corners()->set_recall(true);
  info.mutable_shape()->set_heads(preset.heads);
  info.mutable_shape()->set_head_dim(preset.head_dim(d));
  info.set_block_tokens(common.block_tokens);
  info.set_flops_formula(
      "L*(8*d*d + 4*n*d) + 2*V*d  (n = context incl. the new token)");
  info.set_state_formula(
      kv_format.dtype == KvDtype::kF32
          ? "4*L*d + ceil(n/T)*T*2*L*d*4  (T = block_tokens; grows with n)"
          : "4*L*d + ceil(n/T)*block_bytes  (T = block_tokens; compressed "
            "KV; grows with n)");
  knobs.RecordIn(&info);

  return MakeCircuitStackEngine(
      std::move(info), std::move(weights),
      SoftmaxKvStack(common.depth, preset.heads, preset.head_dim(d),
                     PagedKvPolicy(kv_format)),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "attention",
    .factory = CreateAttentionEngine,
    .default_specs = {PresetSpec("attention"),
                      PresetSpec("attention_int8", {{"kv_dtype", "int8"}}),
                      PresetSpec("attention_int4", {{"kv_dtype", "int4"}})},
    .conformance_knobs = {{{"init", "random"}, {"heads", "2"}, {"depth", "2"}},
                          {{"block_tokens", "3"}},
                          {{"kv_dtype", "f16"}, {"heads", "2"}},
                          {{"kv_dtype", "int8"},
                           {"init", "random"},
                           {"heads", "4"},
                           {"block_tokens", "5"}},
                          {{"kv_dtype", "int4"},
                           {"init", "random"},
                           {"d_model", "48"},
                           {"depth", "2"}}},
    .display_order = 0});

}  // namespace
}  // namespace trilemma
