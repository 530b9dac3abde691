// KV eviction: softmax attention over a bounded kept set of tokens. Past the
// budget, every new token evicts one kept token, so per-step compute and state
// stop growing (efficient and compact) and a fact is recalled only while its
// token survives eviction.
//
// Policies (knob `policy`, state classes in engines/state/evicting_kv.h):
//   sinks  StreamingLLM: the first `sinks` tokens (default 4) plus the last
//          `window` (default 252). Deterministic by position.
//   h2o    Heavy hitters: a `budget` of tokens (default 256); the last
//          `recent` (default 128) are always kept, and when the budget is full
//          the older token with the least accumulated attention mass (summed
//          over heads and layers) is evicted, ties going to the oldest.
//
// Preset "circuit": the attention construction (q = β·x_t, k = x_{t-1},
// v = x_t; see softmax_preset.h), so a query recalls its value exactly when
// the value's token is still kept. Under MQAR the prompt's attention is
// spread over unrelated codes, so H2O's "heavy" tokens are in effect random
// old pairs: both policies keep about half their kept set's worth of pairs.
//
// Knobs: the common ones (lm_frame.h), policy, sinks + window (sinks) or
// budget + recent (h2o), heads, beta, out_gain, kv_dtype (f32, f16, int8,
// int4; docs/kv_compression.md). The other policy's knobs are
// rejected as unknown.
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/softmax_preset.h"
#include "engines/registry.h"
#include "engines/state/evicting_kv.h"

namespace trilemma {
namespace {

constexpr int64_t kMaxTokens = int64_t{1} << 24;

// The kept-set shape of either policy.
struct EvictPolicy {
  std::string name;
  int64_t sinks = 4;     // sinks
  int64_t window = 252;  // sinks
  int64_t budget = 256;  // h2o
  int64_t recent = 128;  // h2o
  // Most tokens held at once.
  int64_t kept() const { return name == "sinks" ? sinks + window : budget; }
};

EvictPolicy ReadPolicyKnobs(Knobs& knobs) {
  EvictPolicy p;
  p.name = knobs.Choice("policy", "sinks", {"sinks", "h2o"});
  if (p.name == "sinks") {
    p.sinks = knobs.Int("sinks", p.sinks, 0, kMaxTokens);
    p.window = knobs.Int("window", p.window, 1, kMaxTokens);
    return p;
  }
  p.budget = knobs.Int("budget", p.budget, 1, kMaxTokens);
  p.recent = knobs.Int("recent", p.recent, 0, kMaxTokens);
  return p;
}

// Engine info for either policy (the layer stack fills the state fields).
v1::EngineInfo MakeInfo(const EngineSpec& spec, const CommonKnobs& common,
                        const SoftmaxPreset& preset, const EvictPolicy& policy,
                        const KvFormat& kv_format, const Knobs& knobs) {
  const int d = common.d_model;
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "kv_evict", common, &info);
  const std::string kept =
      policy.name == "sinks"
          ? absl::StrCat("the first ", policy.sinks,
                         " tokens (attention sinks) plus the last ",
                         policy.window, " (StreamingLLM)")
          : absl::StrCat(policy.budget, " tokens: the last ", policy.recent,
                         " plus the heaviest hitters by attention mass summed "
                         "over heads and layers (H2O; ties evict the oldest)");
  info.set_description(absl::StrCat("softmax attention over a kept set of ",
                                    kept, "; ", common.init, " weights",
                                    DepthNote(common), KvDtypeNote(kv_format)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(preset.heads);
  info.mutable_shape()->set_head_dim(preset.head_dim(d));
  // Not a window for H2O, but the same bound on the tokens attended.
  info.mutable_shape()->set_window(static_cast<int32_t>(policy.kept()));
  info.set_block_tokens(common.block_tokens);
  const std::string k = policy.name == "sinks" ? "(S+W)" : "B";
  info.set_flops_formula(absl::StrCat(
      "L*(8*d*d + 4*min(n,", k, ")*d) + 2*V*d",
      policy.name == "h2o" ? "  (mass updates, L*B adds, not counted)" : ""));
  info.set_state_formula(absl::StrCat(
      "4*L*d", policy.name == "h2o" ? " + 16*B" : "", " + ceil(min(n,", k,
      ")/T)*T*2*L*d*4  (flat once n >= ", k, ")"));
  knobs.RecordIn(&info);
  return info;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateKvEvictEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const EvictPolicy p = ReadPolicyKnobs(knobs);
  const SoftmaxPreset preset = ReadSoftmaxKnobs(knobs);
  const KvFormat kv_format =
      ReadKvDtypeKnob(knobs, preset.head_dim(common.d_model));
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (p.name == "h2o" && p.recent > p.budget) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.recent: ", p.recent, " exceeds knobs.budget ", p.budget));
  }
  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  if (absl::Status s =
          AddSoftmaxBlocks(common, preset, 0, common.depth, rng, &weights);
      !s.ok()) {
    return s;
  }

  KvPolicySpec kv;
  kv.kept_tokens = p.kept();
  kv.format = kv_format;
  if (p.name == "sinks") {
    kv.make =
        [p](KvBlockPool* pool, int layers, int kv_dim,
            int block_tokens) -> absl::StatusOr<std::unique_ptr<KvPolicy>> {
      return std::make_unique<KvPolicyOf<SinkWindowKv>>(
          SinkWindowKv(pool, layers, kv_dim, block_tokens, p.sinks, p.window));
    };
  } else {
    kv.fixed_bytes = HeavyHitterKv::FixedBytes(p.budget);
    kv.make =
        [p](KvBlockPool* pool, int layers, int kv_dim,
            int block_tokens) -> absl::StatusOr<std::unique_ptr<KvPolicy>> {
      absl::StatusOr<HeavyHitterKv> state = HeavyHitterKv::Create(
          pool, layers, kv_dim, block_tokens, p.budget, p.recent);
      if (!state.ok()) return state.status();
      return std::make_unique<KvPolicyOf<HeavyHitterKv>>(*std::move(state));
    };
  }
  const int d = common.d_model;
  return MakeCircuitStackEngine(
      MakeInfo(spec, common, preset, p, kv_format, knobs), std::move(weights),
      SoftmaxKvStack(common.depth, preset.heads, preset.head_dim(d),
                     std::move(kv)),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "kv_evict",
    .factory = CreateKvEvictEngine,
    .default_specs = {PresetSpec("kv_evict_sinks", {{"policy", "sinks"}}),
                      PresetSpec("kv_evict_h2o", {{"policy", "h2o"}})},
    .conformance_knobs =
        {{{"policy", "sinks"},
          {"sinks", "2"},
          {"window", "5"},
          {"init", "random"},
          {"heads", "2"}},
         {{"policy", "sinks"},
          {"sinks", "0"},
          {"window", "9"},
          {"block_tokens", "4"},
          {"depth", "2"}},
         {{"policy", "h2o"},
          {"budget", "9"},
          {"recent", "3"},
          {"init", "random"},
          {"block_tokens", "4"},
          {"depth", "2"}},
         {{"policy", "h2o"}, {"budget", "12"}, {"recent", "0"}, {"heads", "2"}},
         {{"policy", "h2o"},
          {"budget", "10"},
          {"recent", "2"},
          {"kv_dtype", "int4"},
          {"block_tokens", "4"}}},
    .display_order = 20});

}  // namespace
}  // namespace trilemma
