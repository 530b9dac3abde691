// KvBlockTable: a session's KV rows for every layer, stored in blocks from a
// KvBlockPool and addressed by slot. The two KV state kinds are thin policies
// over it: PagedKvCache (slot = position; grows without bound) and
// RingWindowKv (slot = position mod W; holds the last W tokens). Eviction
// policies reuse slots directly.
//
// Block layout (block_tokens = T, kv_dim = H * head_dim):
//   block[layer][0 = key, 1 = value][T][kv_dim]
// so one slot's key for one layer is kv_dim contiguous floats, and the keys
// of a block for one layer are T rows of kv_dim contiguous floats.
//
// Not thread-safe: owned by one Session.
#ifndef TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_
#define TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {

class KvBlockTable {
 public:
  // REQUIRES: pool->block_bytes() == BlockBytes(layers, kv_dim, block_tokens).
  KvBlockTable(KvBlockPool* pool, int layers, int kv_dim, int block_tokens);
  ~KvBlockTable();  // Frees every block back to the pool.

  KvBlockTable(const KvBlockTable&) = delete;
  KvBlockTable& operator=(const KvBlockTable&) = delete;
  // Moves ownership of every block; `other` is left empty.
  KvBlockTable(KvBlockTable&& other) noexcept
      : pool_(other.pool_),
        layers_(other.layers_),
        kv_dim_(other.kv_dim_),
        block_tokens_(other.block_tokens_),
        blocks_(std::move(other.blocks_)) {
    other.blocks_.clear();
  }

  // Bytes of one block for this shape.
  static int64_t BlockBytes(int layers, int kv_dim, int block_tokens) {
    return int64_t{4} * 2 * layers * kv_dim * block_tokens;
  }

  // Makes slots [0, slots) addressable, allocating blocks as needed.
  // RESOURCE_EXHAUSTED from the pool when it is spent (blocks already taken
  // stay held).
  absl::Status EnsureSlots(int64_t slots);

  // Makes this table hold a copy of `other`'s blocks (same shape), taking
  // blocks from the pool; RESOURCE_EXHAUSTED when it cannot.
  // REQUIRES: this table is empty and has other's shape.
  absl::Status CopyFrom(const KvBlockTable& other);

  float* Key(int layer, int64_t slot) { return Row(layer, 0, slot); }
  float* Value(int layer, int64_t slot) { return Row(layer, 1, slot); }
  const float* Key(int layer, int64_t slot) const {
    return const_cast<KvBlockTable*>(this)->Row(layer, 0, slot);
  }
  const float* Value(int layer, int64_t slot) const {
    return const_cast<KvBlockTable*>(this)->Row(layer, 1, slot);
  }

  // First key/value row of block `b` for `layer`: block_tokens rows follow.
  const float* BlockKeys(int layer, int64_t b) const;
  const float* BlockValues(int layer, int64_t b) const;

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t capacity_slots() const { return num_blocks() * block_tokens_; }
  int block_tokens() const { return block_tokens_; }
  int kv_dim() const { return kv_dim_; }
  int layers() const { return layers_; }
  // What the table holds from the pool: whole blocks, slack included.
  int64_t bytes() const { return num_blocks() * pool_->block_bytes(); }
  // Blocks needed to address `slots` slots.
  int64_t BlocksFor(int64_t slots) const {
    return (slots + block_tokens_ - 1) / block_tokens_;
  }

 private:
  float* Row(int layer, int kind, int64_t slot);

  KvBlockPool* const pool_;
  const int layers_;
  const int kv_dim_;
  const int block_tokens_;
  std::vector<float*> blocks_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_
