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
// Forward pass for one step of B sessions (see Step):
//   h = E[tokens]                                       [B, d]
//   for each block l:
//     q, k, v = QkvBlock(l).Project(h)                  [B, kv] each
//     for each session b:
//       slot = p mod W  (p = its position)
//       l = 0, p >= W:  store.Append(K[0][slot], V[0][slot])  (leaving token)
//       K[l][slot] = k_b; V[l][slot] = v_b
//       l = 0:  R = store.Search(q_b, top_k)            [<= top_k ids]
//               o_b = attention over window slots ∪ R   (one softmax)
//       l > 0:  o_b = attention over window slots       (filler block)
//     h += o · Woᵀ                                      [B, d]
//   logits = RmsNorm(h) · Eᵀ                            [B, V]
//
// Preset "circuit": the attention construction (softmax_preset.h), so the
// stored pair (key E[k_i], value E[v_i]) is both the best match of the query
// E[k_i] and the dominant term of the softmax. With depth > 1 the filler
// blocks only attend over their own windows and have a zero output
// projection; only block 1 touches the store.
//
// Knobs: the common ones (lm_frame.h), window, top_k, index, and for hnsw
// m, ef_construction, ef; heads, beta, out_gain. Retrieval ranks entries by
// the whole query·key product (all heads together).
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/ops/attention.h"
#include "engines/ops/retrieval_attention.h"
#include "engines/ops/vector_ops.h"
#include "engines/registry.h"
#include "engines/state/external_kv_store.h"
#include "engines/state/fixed_state.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/ring_window_kv.h"

namespace trilemma {
namespace {

struct MemoryConfig {
  int64_t window = 64;
  int64_t top_k = 4;
  ExternalKvStoreOptions store;
};

class MemoryEngine final : public Engine {
 public:
  // REQUIRES: weights hold the frame and info.shape().layers() QkvBlocks
  // with qk_dim == v_dim == heads * head_dim == config.store.dim.
  MemoryEngine(v1::EngineInfo info, TensorMap weights, int heads,
               int64_t state_budget_bytes, MemoryConfig config)
      : info_(std::move(info)),
        weights_(std::move(weights)),
        frame_(weights_),
        heads_(heads),
        config_(config) {
    const int layers = info_.shape().layers();
    for (int l = 0; l < layers; ++l) blocks_.emplace_back(weights_, l);
    kv_dim_ = blocks_[0].qk_dim();
    head_dim_ = kv_dim_ / heads_;
    const int64_t block_bytes =
        KvBlockTable::BlockBytes(layers, kv_dim_, info_.block_tokens());
    pool_ = std::make_unique<KvBlockPool>(info_.name(), state_budget_bytes,
                                          block_bytes);
    info_.set_block_bytes(block_bytes);
    info_.set_state_budget_bytes(state_budget_bytes);
  }

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return *pool_; }
  const TensorMap& weights() const override { return weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override {
    const int layers = static_cast<int>(blocks_.size());
    absl::StatusOr<FixedState> shift =
        FixedState::Create(pool_.get(), int64_t{layers} * frame_.d_model());
    if (!shift.ok()) return shift.status();
    return std::unique_ptr<Session>(
        new MemorySession(RingWindowKv(pool_.get(), layers, kv_dim_,
                                       info_.block_tokens(), config_.window),
                          *std::move(shift), ExternalKvStore(config_.store)));
  }

  // The copy rebuilds an HNSW store entry by entry (see
  // ExternalKvStore::CopyFrom), so it costs about what filling it did.
  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override {
    const MemorySession& from = static_cast<const MemorySession&>(session);
    absl::StatusOr<std::unique_ptr<Session>> fork = NewSession();
    if (!fork.ok()) return fork.status();
    MemorySession& to = *Cast(fork->get());
    to.shift.CopyFrom(from.shift);
    to.peak_distances = from.peak_distances;
    if (absl::Status s = to.window.CopyFrom(from.window); !s.ok()) return s;
    if (absl::Status s = to.store.CopyFrom(from.store); !s.ok()) return s;
    return fork;
  }

  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override {
    const int64_t batch = static_cast<int64_t>(sessions.size());
    const int d = frame_.d_model();
    thread_local QkvScratch s;
    thread_local std::vector<float> h, normed, scores;
    thread_local std::vector<float*> prev;
    thread_local std::vector<int64_t> ids;
    thread_local std::vector<const float*> row_keys, row_values;
    s.Resize(batch, d, kv_dim_, kv_dim_);
    h.resize(batch * d);
    normed.resize(batch * d);
    prev.resize(batch);
    ids.resize(config_.top_k);
    row_keys.resize(config_.top_k);
    row_values.resize(config_.top_k);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));

    frame_.Embed(tokens, h.data());  // h: [B, d]
    for (size_t l = 0; l < blocks_.size(); ++l) {
      for (int64_t b = 0; b < batch; ++b) {
        prev[b] = Cast(sessions[b])->shift.data() + l * d;
      }
      blocks_[l].Project(h.data(), batch, prev.data(), &s);  // q, k, v: [B, kv]
      for (int64_t b = 0; b < batch; ++b) {
        MemorySession& m = *Cast(sessions[b]);
        KvBlockTable& table = m.window.table();
        const int64_t slot = m.window.next_slot();
        const float* q = &s.q[b * kv_dim_];
        float* o = &s.o[b * kv_dim_];
        if (l == 0 && m.window.tokens() >= config_.window) {
          // The slot's token (position p - W) leaves the window: store it.
          absl::Status stored =
              m.store.Append(table.Key(0, slot), table.Value(0, slot));
          if (!stored.ok()) return stored;
        }
        ops::Copy(&s.k[b * kv_dim_], table.Key(l, slot), kv_dim_);
        ops::Copy(&s.v[b * kv_dim_], table.Value(l, slot), kv_dim_);
        const int64_t held = m.window.held_after();
        if (l > 0) {
          scores.resize(held);
          ops::AttendSlots(q, heads_, head_dim_, scale, table, l, held,
                           scores.data(), o);
          continue;
        }
        const int64_t found = m.store.Search(q, config_.top_k, ids.data());
        for (int64_t r = 0; r < found; ++r) {
          row_keys[r] = m.store.key(ids[r]);
          row_values[r] = m.store.value(ids[r]);
        }
        scores.resize(held + found);
        ops::AttendSlotsAndRows(q, heads_, head_dim_, scale, table, 0, held,
                                row_keys.data(), row_values.data(), found,
                                scores.data(), o);
      }
      blocks_[l].Output(batch, &s, h.data());  // h += o·Woᵀ
    }
    for (Session* session : sessions) {
      MemorySession& m = *Cast(session);
      m.window.Advance();
      m.peak_distances =
          std::max(m.peak_distances, m.store.TakeDistanceComputations());
    }
    frame_.Readout(h.data(), batch, normed.data(), logits);  // [B, V]
    return absl::OkStatus();
  }

  StepCost NextStepCost(const Session& session) const override {
    const MemorySession& m = static_cast<const MemorySession&>(session);
    const int64_t held = m.window.held_after();
    const int64_t stored =
        m.store.size() + (m.window.tokens() >= config_.window ? 1 : 0);
    const int64_t retrieved = std::min(config_.top_k, stored);
    StepCost cost;
    for (const QkvBlock& block : blocks_) {
      cost.flops += block.Flops() + ops::AttendFlops(held, kv_dim_);
    }
    cost.flops += ops::AttendFlops(retrieved, kv_dim_);
    const int64_t products = SearchProducts(m, stored);
    cost.flops += 2 * products * kv_dim_ + frame_.ReadoutFlops();
    const int64_t layers = static_cast<int64_t>(blocks_.size());
    cost.bytes = weights_.num_floats() * 4 +
                 (layers * held + retrieved) * kv_dim_ * 2 * 4 +
                 products * kv_dim_ * 4;
    return cost;
  }

 private:
  struct MemorySession final : Session {
    MemorySession(RingWindowKv window_state, FixedState shift_state,
                  ExternalKvStore store_state)
        : window(std::move(window_state)),
          shift(std::move(shift_state)),
          store(std::move(store_state)) {}
    int64_t state_bytes() const override {
      return window.bytes() + shift.bytes();
    }
    int64_t external_state_bytes() const override { return store.bytes(); }
    int64_t context_tokens() const override { return window.tokens(); }
    int64_t state_bytes_after(int64_t more) const override {
      return window.bytes_after(more) + shift.bytes();
    }
    absl::Status Reserve(int64_t more) override {
      if (absl::Status s = window.Reserve(more); !s.ok()) return s;
      return store.Reserve(window.tokens() + more - window.window());
    }

    RingWindowKv window;    // all blocks' K/V of the last W tokens
    FixedState shift;       // [layers, d]: previous token's normed block input
    ExternalKvStore store;  // block 1's K/V of every token older than W
    // Most query·key products any step of this session computed so far.
    int64_t peak_distances = 0;
  };
  static MemorySession* Cast(Session* s) {
    return static_cast<MemorySession*>(s);
  }

  // Query·key products of the next step's index work with `stored` entries.
  // Exact: the scan, one per entry. HNSW: data dependent, so a measured
  // estimate — the most any step of this session has needed (insert plus
  // search, counted by the index's distance function), and at least the
  // min(stored, max(ef, k)) entries any search must score.
  int64_t SearchProducts(const MemorySession& m, int64_t stored) const {
    if (config_.store.index == ExternalKvIndex::kExact) return stored;
    const int64_t beam = std::max<int64_t>(config_.store.ef, config_.top_k);
    return std::max(m.peak_distances, std::min(stored, beam));
  }

  v1::EngineInfo info_;
  TensorMap weights_;
  LmFrame frame_;
  std::vector<QkvBlock> blocks_;
  int heads_;
  int kv_dim_ = 0;
  int head_dim_ = 0;
  MemoryConfig config_;
  std::unique_ptr<KvBlockPool> pool_;
};

MemoryConfig ReadMemoryKnobs(Knobs& knobs, const CommonKnobs& common) {
  MemoryConfig c;
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
                        const SoftmaxPreset& preset, const MemoryConfig& c,
                        const Knobs& knobs) {
  const int d = common.d_model;
  const int64_t layers = common.depth;
  const int64_t t = common.block_tokens;
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
  info.set_block_tokens(common.block_tokens);
  const int64_t kv_per_token = int64_t{4} * 2 * layers * d;
  info.set_state_bytes_fixed(int64_t{4} * layers * d);
  info.set_state_bytes_per_token(kv_per_token);
  info.set_state_bytes_cap(int64_t{4} * layers * d +
                           (c.window + t - 1) / t * t * kv_per_token);
  const int64_t per_entry = ExternalKvStore::BytesPerEntry(c.store);
  info.set_external_bytes_per_token(per_entry);
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
  const MemoryConfig config = ReadMemoryKnobs(knobs, common);
  const SoftmaxPreset preset = ReadSoftmaxKnobs(knobs);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  if (absl::Status s =
          AddSoftmaxBlocks(common, preset, 0, common.depth, rng, &weights);
      !s.ok()) {
    return s;
  }
  v1::EngineInfo info = MakeInfo(spec, common, preset, config, knobs);
  return std::make_unique<MemoryEngine>(std::move(info), std::move(weights),
                                        preset.heads, spec.state_budget_bytes,
                                        config);
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
                           {"depth", "2"}}},
    .display_order = 70});

}  // namespace
}  // namespace trilemma
