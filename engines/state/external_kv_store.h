// ExternalKvStore: the external tier of a memory engine — an append-only
// store of (key, value) rows beside the model, read by top-k inner-product
// search, either by an exact scan or through an HNSW graph (hnswlib 0.6,
// inner-product space).
//
// Entries are numbered 0, 1, ... in the order appended. The store is charged
// to no KvBlockPool (it is not model state): its bytes are reported by
// bytes() and freed with the object.
//
// Rows are kept in options.format (docs/kv_compression.md, "The external
// store"): f32, f16, int8 with one float scale per row and per
// format.scale_width elements (0: the whole row), or int4 in groups of 32
// with f16 scales. A row is encoded once, on Append, and read back decoded
// (key(), value()); the exact scan scores the decoded keys. kHnsw hands
// hnswlib the decoded key, which it keeps as floats in its level-0 record
// (counted in bytes()); only the values are stored compressed beside it.
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
#include "engines/state/kv_format.h"

namespace trilemma {

enum class ExternalKvIndex { kExact, kHnsw };

struct ExternalKvStoreOptions {
  int dim = 0;  // width of keys, values and queries
  ExternalKvIndex index = ExternalKvIndex::kExact;
  // How rows are stored. REQUIRES: format.scale_width divides dim when > 0.
  KvFormat format = {};
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
  // capacity and entries (the stored codes, not re-encoded); an HNSW graph is
  // rebuilt by inserting the entries in order, which reproduces it exactly
  // (same level seed, single thread).
  // RESOURCE_EXHAUSTED when host memory runs out.
  absl::Status CopyFrom(const ExternalKvStore& other);

  // Appends (key, value), encoded in options.format, as entry size().
  // REQUIRES: size() < capacity().
  // RESOURCE_EXHAUSTED when the index cannot allocate its links.
  absl::Status Append(const float* key, const float* value);

  // Writes the ids of the min(k, size()) entries with the largest
  // (decoded key)·query to ids[], best first; returns how many.
  int64_t Search(const float* query, int64_t k, int64_t* ids);

  // Entry `id`'s key or value, decoded. The result points either into the
  // store (f32 rows; HNSW keys) or at `scratch` (dim floats, filled), and is
  // valid until the next Append/Reserve or the next use of `scratch`.
  const float* key(int64_t id, float* scratch) const;
  const float* value(int64_t id, float* scratch) const;
  int64_t size() const;
  int64_t capacity() const;

  // Bytes held: the encoded values and keys (codes and scales), plus for kHnsw
  // the index's allocations as hnswlib 0.6 lays them out (level-0 records of
  // capacity entries, upper- level link lists, per-entry locks, levels and
  // visited marks, the label map at one node and one bucket pointer per entry,
  // and the fixed table of 65536 update locks every index allocates); allocator
  // overhead excluded.
  int64_t bytes() const;

  // Expected bytes per stored entry once capacity is used (for EngineInfo):
  // kExact 2*RowBytes; kHnsw RowBytes for the value plus the level-0 record
  // (8M + 4 + 4*dim + 8 bytes, the float key included), 86 bytes of
  // per-entry bookkeeping and the expected upper-level links (4M + 4)/(M - 1).
  static int64_t BytesPerEntry(const ExternalKvStoreOptions& options);

  // Bytes of one encoded row: f32 4*dim, f16 2*dim, int8 dim + 4 per scale
  // group, int4 ceil(dim/2) + 2*ceil(dim/32).
  static int64_t RowBytes(const ExternalKvStoreOptions& options);

  // Query·key products computed (by searches and, for kHnsw, by inserts)
  // since the last call.
  int64_t TakeDistanceComputations();

 private:
  // Inserts `key` into the graph as entry rep_->size (which the caller
  // advances).
  absl::Status AddToGraph(const float* key);

  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_EXTERNAL_KV_STORE_H_
