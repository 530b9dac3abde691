// ExternalKvStore: the external tier of a memory engine — an append-only
// store of (key, value) rows beside the model, read by top-k inner-product
// search, either by an exact scan or through an HNSW graph (hnswlib 0.6,
// inner-product space).
//
// Entries are numbered 0, 1, ... in the order appended. The store is charged
// to no KvBlockPool (it is not model state): its bytes are reported by
// bytes() and freed with the object.
//
// Example:
//   ExternalKvStore store({.dim = 64, .index = ExternalKvIndex::kExact});
//   ABSL_CHECK_OK(store.Reserve(1));
//   ABSL_CHECK_OK(store.Append(key, value));
//   int64_t ids[4];
//   int64_t found = store.Search(query, 4, ids);   // best first
//   int64_t dots = store.TakeDistanceComputations();
//
// Search results:
//   kExact  the k largest key·query, ties going to the older entry —
//           deterministic, reproducible by a reference model.
//   kHnsw   hnswlib's approximate answer (deterministic for a given sequence
//           of appends: single-threaded, fixed level seed).
//
// Not thread-safe: owned by one Session. Movable, not copyable.
#ifndef TRILEMMA_ENGINES_STATE_EXTERNAL_KV_STORE_H_
#define TRILEMMA_ENGINES_STATE_EXTERNAL_KV_STORE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"

namespace trilemma {

enum class ExternalKvIndex { kExact, kHnsw };

struct ExternalKvStoreOptions {
  int dim = 0;  // width of keys, values and queries
  ExternalKvIndex index = ExternalKvIndex::kExact;
  // HNSW graph degree M (level 0 holds 2M links), construction and search
  // beam widths, and the seed of its level draws.
  int hnsw_m = 16;
  int ef_construction = 100;
  int ef = 64;
  uint64_t seed = 100;
};

class ExternalKvStore {
 public:
  // Entries of capacity first taken; capacity then doubles as needed.
  static constexpr int64_t kMinCapacity = 256;

  // REQUIRES: options.dim > 0; for kHnsw, hnsw_m >= 2, ef >= 1,
  //           ef_construction >= 1.
  explicit ExternalKvStore(const ExternalKvStoreOptions& options);
  ~ExternalKvStore();
  ExternalKvStore(ExternalKvStore&&) noexcept;
  ExternalKvStore& operator=(ExternalKvStore&&) = delete;

  // Makes room for `entries` entries in all: capacity becomes the smallest
  // kMinCapacity * 2^i >= entries (the same whatever the sequence of calls).
  // RESOURCE_EXHAUSTED when host memory runs out.
  absl::Status Reserve(int64_t entries);

  // Makes this empty store a copy of `other` (same options): the same
  // capacity and entries; an HNSW graph is rebuilt by inserting the entries
  // in order, which reproduces it exactly (same level seed, single thread).
  // RESOURCE_EXHAUSTED when host memory runs out.
  absl::Status CopyFrom(const ExternalKvStore& other);

  // Appends (key, value) as entry size(). REQUIRES: size() < capacity().
  // RESOURCE_EXHAUSTED when the index cannot allocate its links.
  absl::Status Append(const float* key, const float* value);

  // Writes the ids of the min(k, size()) entries with the largest key·query
  // to ids[], best first; returns how many.
  int64_t Search(const float* query, int64_t k, int64_t* ids);

  const float* key(int64_t id) const;
  const float* value(int64_t id) const;
  int64_t size() const;
  int64_t capacity() const;

  // Bytes held: values and keys, plus for kHnsw the index's allocations as
  // hnswlib 0.6 lays them out (level-0 records of capacity entries, upper-
  // level link lists, per-entry locks, levels and visited marks, the label
  // map at one node and one bucket pointer per entry, and the fixed table of
  // 65536 update locks every index allocates); allocator overhead excluded.
  int64_t bytes() const;

  // Expected bytes per stored entry once capacity is used (for EngineInfo):
  // kExact 8*dim; kHnsw adds the level-0 record (8M + 4 + 4*dim + 8 bytes),
  // 86 bytes of per-entry bookkeeping and the expected upper-level links
  // (4M + 4)/(M - 1), while the keys live inside the index.
  static int64_t BytesPerEntry(const ExternalKvStoreOptions& options);

  // Query·key products computed (by searches and, for kHnsw, by inserts)
  // since the last call.
  int64_t TakeDistanceComputations();

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_EXTERNAL_KV_STORE_H_
