// External memory: a compact core (softmax attention over a sliding window)
// plus an external key-value store beside the model. Every token leaving the
// window writes its block-1 key and value to the store, and every step reads
// the top-k stored entries by inner product with its query, attending over
// the window and those entries under one softmax (as Memorizing Transformers'
// kNN memory). Model-tier state stays flat (the window); the store grows with
// the context in the external tier, so recall holds at any length: the
// "efficient + recall" corner bought by giving up compactness.
//
// Index (knob `index`): `hnsw` (hnswlib 0.6; per-step cost grows like the
// graph's search, about log n) or `exact` (a brute-force scan: 2·n·d per
// step, so it is not efficient; it is the reference-checkable mode).
//
// The memory family runs on the layer stack (docs/engines.md): a circuit
// stack (engines/common/circuit_stack.h) whose sessions keep their KV with
// ExternalStoreKvPolicy (engines/stack/external_store_kv.h), block 1's mixer
// retrieving from the store (retrieval_mixer.h) and the other blocks plain
// softmax over their windows.
//
// Forward pass for one token of one session at position p:
//   h = E[token]                                        [d]
//   p >= W:  store.Append(K[0][p mod W], V[0][p mod W])  (the leaving token)
//   for each block l:
//     q, k, v = QkvBlock(l)(h)                          [kv] each
//     K[l][p mod W] = k; V[l][p mod W] = v
//     l = 0:  R = store.Search(q, top_k)                [<= top_k ids]
//             o = attention over window slots ∪ R       (one softmax)
//     l > 0:  o = attention over window slots           (filler block)
//     h += o · Woᵀ                                      [d]
//   logits = RmsNorm(h) · Eᵀ                            [V]
// A step of B sessions runs them as B rows; prefill goes token by token.
//
// Preset "circuit": the attention construction (softmax_preset.h), so the
// stored pair (key E[k_i], value E[v_i]) is both the best match of the query
// E[k_i] and the dominant term of the softmax. With depth > 1 the filler
// blocks only attend over their own windows and have a zero output
// projection; only block 1 touches the store.
//
// Knobs: the common ones (lm_frame.h), window, top_k, index, and for hnsw
// m, ef_construction, ef; heads, beta, out_gain; kv_dtype for the window's
// KV and the external store's rows (docs/kv_compression.md: a row leaving
// the window is decoded and re-encoded with its own per-row, per-head int8
// scales; an HNSW index keeps its keys as floats). Retrieval ranks entries by
// the whole (decoded) query·key product (all heads together).
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/lm_frame.h"
#include "engines/common/softmax_preset.h"
#include "engines/memory/retrieval_mixer.h"
#include "engines/registry.h"
#include "engines/stack/external_store_kv.h"
#include "engines/state/external_kv_store.h"

namespace trilemma {
namespace {

ExternalStoreKvOptions ReadMemoryKnobs(Knobs& knobs,
                                       const CommonKnobs& common) {
  ExternalStoreKvOptions c;
  c.window = knobs.Int("window", c.window, 1, int64_t{1} << 24);
  c.top_k = knobs.Int("top_k", c.top_k, 1, 1024);
  c.store.dim = common.d_model;
  c.store.seed = common.seed;
  const std::string index = knobs.Choice("index", "hnsw", {"hnsw", "exact"});
  if (index == "exact") return c;
  c.store.index = ExternalKvIndex::kHnsw;
  c.store.hnsw_m = static_cast<int>(knobs.Int("m", c.store.hnsw_m, 2, 1024));
  c.store.ef_construction = static_cast<int>(
      knobs.Int("ef_construction", c.store.ef_construction, 1, 1 << 16));
  c.store.ef = static_cast<int>(knobs.Int("ef", c.store.ef, 1, 1 << 16));
  return c;
}

v1::EngineInfo MakeInfo(const EngineSpec& spec, const CommonKnobs& common,
                        const SoftmaxPreset& preset,
                        const ExternalStoreKvOptions& c, const Knobs& knobs) {
  const int d = common.d_model;
  const bool hnsw = c.store.index == ExternalKvIndex::kHnsw;
  v1::EngineInfo info;
  FillCommonInfo(spec.name, "memory", common, &info);
  info.set_description(absl::StrCat(
      "softmax attention over the last ", c.window, " tokens plus the top ",
      c.top_k,
      " of an external key-value store holding block 1's k, v of every "
      "older token, found by ",
      hnsw ? absl::StrCat("an HNSW index (hnswlib, M=", c.store.hnsw_m,
                          ", ef=", c.store.ef, ")")
           : "an exact scan (O(n) per step: not efficient)",
      "; one softmax over both; ", common.init, " weights", DepthNote(common),
      common.depth > 1 ? " and attend over their windows only" : ""));
  info.mutable_corners()->set_efficient(hnsw);
  info.mutable_corners()->set_recall(true);
  info.mutable_shape()->set_heads(preset.heads);
  info.mutable_shape()->set_head_dim(preset.head_dim(d));
  info.mutable_shape()->set_window(static_cast<int32_t>(c.window));
  // The layer stack fills the state fields and external_bytes_per_token.
  info.set_block_tokens(common.block_tokens);
  const int64_t per_entry = ExternalKvStore::BytesPerEntry(c.store);
  info.set_flops_formula(absl::StrCat(
      "L*(8*d*d + 4*min(n,W)*d) + 4*min(k,n-W)*d + 2*V*d + ",
      hnsw ? "2*D*d  (D = query-key products of the HNSW insert + search, "
             "counted; grows ~log n)"
           : "2*(n-W)*d  (exact scan of the store)"));
  info.set_state_formula(absl::StrCat(
      "model: 4*L*d + ceil(min(n,W)/T)*T*2*L*d*4 (flat once n >= W); "
      "external: (n-W) entries in a capacity of 256*2^i, ~",
      per_entry, " bytes each",
      hnsw ? " + 65536*40 bytes of hnswlib update locks" : ""));
  knobs.RecordIn(&info);
  return info;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateMemoryEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  ExternalStoreKvOptions options = ReadMemoryKnobs(knobs, common);
  const SoftmaxPreset preset = ReadSoftmaxKnobs(knobs);
  const KvFormat kv_format =
      ReadKvDtypeKnob(knobs, preset.head_dim(common.d_model));
  options.store.format = kv_format;
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  if (absl::Status s =
          AddSoftmaxBlocks(common, preset, 0, common.depth, rng, &weights);
      !s.ok()) {
    return s;
  }
  const int d = common.d_model;
  const int head_dim = preset.head_dim(d);
  // Block 1 retrieves from the store (which keeps its KV layer, 0); the
  // filler blocks attend over their windows only.
  MixerStack stack;
  stack.kv = ExternalStoreKvPolicy(options);
  stack.kv.format = kv_format;  // the window's rows
  stack.kv_dim = d;
  stack.mixers.push_back(MakeRetrievalSoftmaxMixer(preset.heads, head_dim));
  for (int l = 1; l < common.depth; ++l) {
    stack.mixers.push_back(MakeSoftmaxKvMixer(preset.heads, head_dim));
  }
  return MakeCircuitStackEngine(MakeInfo(spec, common, preset, options, knobs),
                                std::move(weights), std::move(stack),
                                spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "memory",
    .factory = CreateMemoryEngine,
    .default_specs = {PresetSpec("memory", {{"index", "hnsw"}}),
                      PresetSpec("memory_exact", {{"index", "exact"}})},
    .conformance_knobs = {{{"index", "exact"},
                           {"window", "6"},
                           {"top_k", "2"},
                           {"init", "random"},
                           {"heads", "2"}},
                          {{"index", "exact"},
                           {"window", "6"},
                           {"top_k", "2"},
                           {"kv_dtype", "int8"},
                           {"block_tokens", "4"},
                           {"heads", "2"}},
                          {{"index", "exact"},
                           {"window", "5"},
                           {"top_k", "3"},
                           {"depth", "2"},
                           {"block_tokens", "4"}},
                          {{"index", "hnsw"},
                           {"window", "8"},
                           {"m", "4"},
                           {"ef", "8"},
                           {"ef_construction", "16"},
                           {"init", "random"},
                           {"depth", "2"}},
                          {{"index", "hnsw"},
                           {"window", "5"},
                           {"m", "4"},
                           {"ef", "8"},
                           {"kv_dtype", "f16"},
                           {"init", "random"}},
                          {{"index", "exact"},
                           {"window", "4"},
                           {"top_k", "3"},
                           {"kv_dtype", "int4"},
                           {"block_tokens", "4"}},
                          {{"index", "hnsw"},
                           {"window", "6"},
                           {"m", "4"},
                           {"ef", "8"},
                           {"kv_dtype", "int8"},
                           {"heads", "2"}}},
    .display_order = 70});

}  // namespace
}  // namespace trilemma
