#include "engines/stack/external_store_kv.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/state/ring_window_kv.h"

namespace trilemma {
namespace {

class ExternalStoreKv final : public KvPolicy {
 public:
  ExternalStoreKv(KvBlockPool* pool, int layers, int kv_dim, int block_tokens,
                  const ExternalStoreKvOptions& options)
      : window_(pool, layers, kv_dim, block_tokens, options.window),
        store_(options.store),
        options_(options),
        ids_(options.top_k),
        retrieved_keys_(options.top_k * options.store.dim),
        retrieved_values_(options.top_k * options.store.dim) {}

  // The window's blocks from the pool, then host memory for every token that
  // will have left it.
  absl::Status Reserve(int64_t more) override {
    if (absl::Status s = window_.Reserve(more); !s.ok()) return s;
    return store_.Reserve(window_.tokens() + more - window_.window());
  }
  int64_t tokens() const override { return window_.tokens(); }
  int64_t bytes() const override { return window_.bytes(); }
  int64_t bytes_after(int64_t more) const override {
    return window_.bytes_after(more);
  }
  KvBlockTable& table() override { return window_.table(); }

  bool Place(int64_t ahead, int64_t* slot, int64_t* held) const override {
    if (ahead > 0) return false;
    *slot = window_.next_slot();
    *held = window_.held_after();
    return true;
  }
  void Advance(int64_t n) override {
    for (int64_t i = 0; i < n; ++i) window_.Advance();
    peak_products_ =
        std::max(peak_products_, store_.TakeDistanceComputations());
  }

  absl::Status CopyFrom(const KvPolicy& other) override {
    const auto& from = static_cast<const ExternalStoreKv&>(other);
    peak_products_ = from.peak_products_;
    if (absl::Status s = window_.CopyFrom(from.window_); !s.ok()) return s;
    return store_.CopyFrom(from.store_);
  }

  // The token in the next slot (position p - W) leaves the window: store it.
  absl::Status BeforeWrite() override {
    if (window_.tokens() < window_.window()) return absl::OkStatus();
    if (store_.size() >= store_.capacity()) {
      // Callers reserve first (Session::Reserve); this keeps Append's
      // REQUIRES for one that did not.
      if (absl::Status s = store_.Reserve(store_.size() + 1); !s.ok()) {
        return s;
      }
    }
    // The window may hold its rows compressed (kv_dtype): a row leaves it
    // decoded and the store encodes it again in its own format (per-row
    // scales; docs/kv_compression.md).
    const int64_t slot = window_.next_slot();
    const KvBlockTable& table = window_.table();
    key_row_.resize(table.kv_dim());
    value_row_.resize(table.kv_dim());
    return store_.Append(
        table.ReadRow(options_.store_layer, KvBlockTable::kKey, slot,
                      key_row_.data()),
        table.ReadRow(options_.store_layer, KvBlockTable::kValue, slot,
                      value_row_.data()));
  }

  int64_t external_bytes() const override { return store_.bytes(); }
  int64_t retrieve_k() const override { return options_.top_k; }
  int64_t Retrieve(const float* query, const float** keys,
                   const float** values) override {
    const int64_t found = store_.Search(query, options_.top_k, ids_.data());
    const int64_t dim = options_.store.dim;
    // Compressed rows are decoded here, only the k found.
    for (int64_t r = 0; r < found; ++r) {
      keys[r] = store_.key(ids_[r], &retrieved_keys_[r * dim]);
      values[r] = store_.value(ids_[r], &retrieved_values_[r * dim]);
    }
    return found;
  }

  // Exact: one product per entry (the scan). HNSW: data dependent, so a
  // measured estimate — the most any step of this session has needed
  // (insert plus search, counted by the index), and at least the
  // min(stored, max(ef, k)) entries any search must score.
  ExternalWork NextExternalWork() const override {
    const int64_t stored =
        store_.size() + (window_.tokens() >= window_.window() ? 1 : 0);
    ExternalWork work{.retrieved = std::min(options_.top_k, stored),
                      .products = stored};
    if (options_.store.index == ExternalKvIndex::kHnsw) {
      const int64_t beam = std::max<int64_t>(options_.store.ef, options_.top_k);
      work.products = std::max(peak_products_, std::min(stored, beam));
    }
    return work;
  }

 private:
  RingWindowKv window_;
  ExternalKvStore store_;
  const ExternalStoreKvOptions options_;
  std::vector<int64_t> ids_;  // Retrieve's scratch, top_k entries
  // Retrieve's decoded rows, [top_k, dim] each; what it returns may point
  // here until the next Retrieve.
  std::vector<float> retrieved_keys_, retrieved_values_;
  std::vector<float> key_row_, value_row_;  // BeforeWrite's decoded rows
  // Most query·key products any step of this session computed so far.
  int64_t peak_products_ = 0;
};

}  // namespace

KvPolicySpec ExternalStoreKvPolicy(const ExternalStoreKvOptions& options) {
  return {.make = [options](KvBlockPool* pool, int layers, int kv_dim,
                            int block_tokens)
              -> absl::StatusOr<std::unique_ptr<KvPolicy>> {
            if (options.store.dim != kv_dim) {
              return absl::InvalidArgumentError(
                  absl::StrCat("external store dim ", options.store.dim,
                               " differs from the stack's kv_dim ", kv_dim));
            }
            if (options.store_layer < 0 || options.store_layer >= layers) {
              return absl::InvalidArgumentError(absl::StrCat(
                  "external store layer ", options.store_layer,
                  " is not one of the stack's ", layers, " KV layers"));
            }
            return std::make_unique<ExternalStoreKv>(pool, layers, kv_dim,
                                                     block_tokens, options);
          },
          .kept_tokens = options.window,
          .fixed_bytes = 0,
          // The memory family sets the window's kv_dtype (and the store's,
          // in options.store.format).
          .format = {},
          .external_bytes_per_token =
              ExternalKvStore::BytesPerEntry(options.store)};
}

}  // namespace trilemma
