// Sliding-window attention: softmax attention over the last W tokens only, in
// a ring of KV blocks. Per-step compute and state stop growing at W (efficient
// and compact) and recall is lost for facts older than W tokens.
//
// Preset "circuit": the same construction as `attention` (q = β·x_t,
// k = x_{t-1}, v = x_t), so within the window it recalls exactly as full
// attention does: an MQAR prompt keeps about W/2 key-value pairs.
//
// Knobs: the common ones (lm_frame.h) plus window, heads, beta, out_gain,
// kv_dtype (f32, f16, int8, int4; docs/kv_compression.md).
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/softmax_preset.h"
#include "engines/registry.h"

namespace trilemma {
namespace {

absl::StatusOr<std::unique_ptr<Engine>> CreateSlidingWindowEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const int64_t window = knobs.Int("window", 256, 1, int64_t{1} << 24);
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
  FillCommonInfo(spec.name, "sliding_window", common, &info);
  info.set_description(absl::StrCat("softmax attention over the last ", window,
                                    " tokens (ring of KV blocks); ",
                                    common.init, " weights", DepthNote(common),
                                    KvDtypeNote(kv_format)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(preset.heads);
  info.mutable_shape()->set_head_dim(preset.head_dim(d));
  info.mutable_shape()->set_window(static_cast<int32_t>(window));
  info.set_block_tokens(common.block_tokens);
  info.set_flops_formula("L*(8*d*d + 4*min(n,W)*d) + 2*V*d");
  info.set_state_formula(
      "4*L*d + ceil(min(n,W)/T)*T*2*L*d*4  (flat once n >= W)");
  knobs.RecordIn(&info);

  return MakeCircuitStackEngine(
      std::move(info), std::move(weights),
      SoftmaxKvStack(common.depth, preset.heads, preset.head_dim(d),
                     RingWindowKvPolicy(window, kv_format)),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "sliding_window",
    .factory = CreateSlidingWindowEngine,
    .default_specs = {PresetSpec("sliding_window")},
    .conformance_knobs = {{{"init", "random"}, {"window", "7"}, {"heads", "2"}},
                          {{"window", "10"},
                           {"block_tokens", "4"},
                           {"depth", "2"}},
                          {{"window", "9"},
                           {"kv_dtype", "int8"},
                           {"block_tokens", "4"},
                           {"heads", "2"}}},
    .display_order = 10});

}  // namespace
}  // namespace trilemma
