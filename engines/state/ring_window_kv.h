// RingWindowKv: sliding-window KV state holding the last `window` tokens.
// Token at position p lives in slot p mod window, so once the window is full
// each new token overwrites the oldest. Blocks are taken lazily as the window
// first fills, then the state stops growing.
//
// Attention over a ring is order-free (softmax over a set), so readers attend
// over slots [0, held_after()) without unrolling the ring.
//
// Not thread-safe: owned by one Session.
#ifndef TRILEMMA_ENGINES_STATE_RING_WINDOW_KV_H_
#define TRILEMMA_ENGINES_STATE_RING_WINDOW_KV_H_

#include <algorithm>

#include "engines/state/kv_block_table.h"

namespace trilemma {

class RingWindowKv {
 public:
  // REQUIRES: window > 0.
  RingWindowKv(KvBlockPool* pool, int layers, int kv_dim, int block_tokens,
               int64_t window)
      : table_(pool, layers, kv_dim, block_tokens), window_(window) {}

  absl::Status Reserve(int64_t more) {
    return table_.EnsureSlots(std::min(window_, tokens_ + more));
  }
  int64_t next_slot() const { return tokens_ % window_; }
  int64_t held_after() const { return std::min(window_, tokens_ + 1); }
  // Slot and held count of the token at `position` once those before it are
  // written (a prefill chunk places all its tokens up front).
  int64_t SlotAt(int64_t position) const { return position % window_; }
  int64_t HeldAt(int64_t position) const {
    return std::min(window_, position + 1);
  }
  void Advance() { ++tokens_; }

  int64_t tokens() const { return tokens_; }
  int64_t window() const { return window_; }
  int64_t bytes() const { return table_.bytes(); }
  int64_t bytes_after(int64_t more) const {
    const int64_t blocks =
        std::max(table_.num_blocks(),
                 table_.BlocksFor(std::min(window_, tokens_ + more)));
    return blocks * table_.block_bytes();
  }
  // Copies `other`'s tokens into this empty state (see KvBlockTable::CopyFrom).
  absl::Status CopyFrom(const RingWindowKv& other) {
    tokens_ = other.tokens_;
    return table_.CopyFrom(other.table_);
  }
  KvBlockTable& table() { return table_; }
  const KvBlockTable& table() const { return table_; }

 private:
  KvBlockTable table_;
  const int64_t window_;
  int64_t tokens_ = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_RING_WINDOW_KV_H_
