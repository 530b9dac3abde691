// KvBlockTable: a session's KV rows for every layer, stored in blocks from a
// KvBlockPool and addressed by slot. The two KV state kinds are thin policies
// over it: PagedKvCache (slot = position; grows without bound) and
// RingWindowKv (slot = position mod W; holds the last W tokens). Eviction
// policies reuse slots directly.
//
// Rows are stored in the pool's KvFormat (kv_format.h): f32 as computed, or
// compressed (f16, int8, int4) and decoded on the fly by ReadRows. Block
// layout (T = block_tokens, D = kv_dim, L = layers): 2·L segments, one per
// (layer, key|value) in that order, each SegmentBytes(D, T, format) long:
//   f32   [T][D] float
//   f16   [T][D] uint16 (IEEE half)
//   int8  [D / scale_width] float scales, then [T][D] int8
//   int4  [T][⌈D/32⌉] uint16 f16 scales, then [T][⌈D/2⌉] packed nibbles
// then padding so the block is a whole number of bytes per token and a
// multiple of 4 (BlockBytes). In f32 one slot's key for one layer is D
// contiguous floats (Key / Value), and the keys of a block for one layer are
// T rows of D floats (BlockKeys / BlockValues).
//
// Example:
//   KvBlockTable table(&pool, layers, kv_dim, block_tokens);
//   table.EnsureSlots(1);
//   table.WriteKey(layer, 0, k);  table.WriteValue(layer, 0, v);
//   int64_t stride;
//   const float* keys = table.ReadRows(layer, KvBlockTable::kKey, 0, 0, 1,
//                                      0, kv_dim, tile, &stride);
//
// Not thread-safe: owned by one Session.
#ifndef TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_
#define TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_format.h"

namespace trilemma {

class KvBlockTable {
 public:
  static constexpr int kKey = 0;
  static constexpr int kValue = 1;

  // Rows are stored in pool->kv_format().
  // REQUIRES: pool->block_bytes() ==
  //           BlockBytes(layers, kv_dim, block_tokens, pool->kv_format()).
  KvBlockTable(KvBlockPool* pool, int layers, int kv_dim, int block_tokens);
  ~KvBlockTable();  // Frees every block back to the pool.

  KvBlockTable(const KvBlockTable&) = delete;
  KvBlockTable& operator=(const KvBlockTable&) = delete;
  // Moves ownership of every block; `other` is left empty.
  KvBlockTable(KvBlockTable&& other) noexcept
      : pool_(other.pool_),
        format_(other.format_),
        layers_(other.layers_),
        kv_dim_(other.kv_dim_),
        block_tokens_(other.block_tokens_),
        segment_bytes_(other.segment_bytes_),
        blocks_(std::move(other.blocks_)) {
    other.blocks_.clear();
  }

  // Bytes of one (layer, key|value) part of a block.
  static int64_t SegmentBytes(int kv_dim, int block_tokens,
                              const KvFormat& format);
  // Bytes of one block for this shape: a multiple of 4 and of block_tokens.
  static int64_t BlockBytes(int layers, int kv_dim, int block_tokens,
                            const KvFormat& format = {});

  // Makes slots [0, slots) addressable, allocating blocks as needed (zeroed
  // unless the format is f32). RESOURCE_EXHAUSTED from the pool when it is
  // spent (blocks already taken stay held).
  absl::Status EnsureSlots(int64_t slots);

  // Makes this table hold a copy of `other`'s blocks (same shape), taking
  // blocks from the pool; RESOURCE_EXHAUSTED when it cannot.
  // REQUIRES: this table is empty and has other's shape.
  absl::Status CopyFrom(const KvBlockTable& other);

  // Stores kv_dim floats as `slot`'s key / value of `layer`, in the format.
  // REQUIRES: slot < capacity_slots().
  void WriteKey(int layer, int64_t slot, const float* row) {
    WriteRow(layer, kKey, slot, row);
  }
  void WriteValue(int layer, int64_t slot, const float* row) {
    WriteRow(layer, kValue, slot, row);
  }
  void WriteRow(int layer, int kind, int64_t slot, const float* row);

  // Rows [row0, row0 + n) of block `b`, elements [col, col + width) of each,
  // as floats: the returned pointer's row i starts at i · *stride. In f32 it
  // points into the block; otherwise the rows are decoded into `tile`
  // (n · width floats, caller-owned) and *stride == width.
  const float* ReadRows(int layer, int kind, int64_t b, int row0, int n,
                        int col, int width, float* tile, int64_t* stride) const;
  // One slot's whole row (kv_dim floats), decoded into `scratch` unless f32.
  const float* ReadRow(int layer, int kind, int64_t slot,
                       float* scratch) const {
    int64_t stride = 0;
    return ReadRows(layer, kind, slot / block_tokens_,
                    static_cast<int>(slot % block_tokens_), 1, 0, kv_dim_,
                    scratch, &stride);
  }

  // Direct float access. REQUIRES: the format is f32.
  float* Key(int layer, int64_t slot) { return Row(layer, kKey, slot); }
  float* Value(int layer, int64_t slot) { return Row(layer, kValue, slot); }
  const float* Key(int layer, int64_t slot) const {
    return const_cast<KvBlockTable*>(this)->Row(layer, kKey, slot);
  }
  const float* Value(int layer, int64_t slot) const {
    return const_cast<KvBlockTable*>(this)->Row(layer, kValue, slot);
  }
  // First key/value row of block `b` for `layer`: block_tokens rows follow.
  // REQUIRES: the format is f32.
  const float* BlockKeys(int layer, int64_t b) const;
  const float* BlockValues(int layer, int64_t b) const;

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t capacity_slots() const { return num_blocks() * block_tokens_; }
  int block_tokens() const { return block_tokens_; }
  int kv_dim() const { return kv_dim_; }
  int layers() const { return layers_; }
  const KvFormat& format() const { return format_; }
  // What the table holds from the pool: whole blocks, slack included.
  int64_t bytes() const { return num_blocks() * pool_->block_bytes(); }
  // Bytes of one block of this table.
  int64_t block_bytes() const { return pool_->block_bytes(); }
  // Blocks needed to address `slots` slots.
  int64_t BlocksFor(int64_t slots) const {
    return (slots + block_tokens_ - 1) / block_tokens_;
  }

 private:
  float* Row(int layer, int kind, int64_t slot);
  // Start of block b's (layer, kind) segment.
  unsigned char* Segment(int64_t b, int layer, int kind) const {
    return reinterpret_cast<unsigned char*>(blocks_[b]) +
           (int64_t{layer} * 2 + kind) * segment_bytes_;
  }

  KvBlockPool* const pool_;
  const KvFormat format_;
  const int layers_;
  const int kv_dim_;
  const int block_tokens_;
  const int64_t segment_bytes_;
  std::vector<float*> blocks_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_KV_BLOCK_TABLE_H_
