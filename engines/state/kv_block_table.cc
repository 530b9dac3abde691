#include "engines/state/kv_block_table.h"

#include <algorithm>

namespace trilemma {

KvBlockTable::KvBlockTable(KvBlockPool* pool, int layers, int kv_dim,
                           int block_tokens)
    : pool_(pool),
      layers_(layers),
      kv_dim_(kv_dim),
      block_tokens_(block_tokens) {}

KvBlockTable::~KvBlockTable() {
  for (float* block : blocks_) pool_->FreeBlock(block);
}

absl::Status KvBlockTable::EnsureSlots(int64_t slots) {
  while (capacity_slots() < slots) {
    absl::StatusOr<float*> block = pool_->AllocateBlock();
    if (!block.ok()) return block.status();
    blocks_.push_back(*block);
  }
  return absl::OkStatus();
}

absl::Status KvBlockTable::CopyFrom(const KvBlockTable& other) {
  const int64_t floats = pool_->block_bytes() / 4;
  for (const float* source : other.blocks_) {
    absl::StatusOr<float*> block = pool_->AllocateBlock();
    if (!block.ok()) return block.status();
    std::copy(source, source + floats, *block);
    blocks_.push_back(*block);
  }
  return absl::OkStatus();
}

float* KvBlockTable::Row(int layer, int kind, int64_t slot) {
  float* block = blocks_[slot / block_tokens_];
  const int64_t row = slot % block_tokens_;
  return block + ((int64_t{layer} * 2 + kind) * block_tokens_ + row) * kv_dim_;
}

const float* KvBlockTable::BlockKeys(int layer, int64_t b) const {
  return blocks_[b] + int64_t{layer} * 2 * block_tokens_ * kv_dim_;
}

const float* KvBlockTable::BlockValues(int layer, int64_t b) const {
  return blocks_[b] + (int64_t{layer} * 2 + 1) * block_tokens_ * kv_dim_;
}

}  // namespace trilemma
