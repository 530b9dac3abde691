// PagedKvCache: full-attention KV state. Token at position p lives in slot p;
// the cache grows one block at a time and never forgets.
//
// Usage per step: Reserve(1) (before the step), then for each layer write
// Key(l, next_slot())/Value(l, next_slot()), attend over slots
// [0, next_slot()], and finally Advance().
//
// Not thread-safe: owned by one Session.
#ifndef TRILEMMA_ENGINES_STATE_PAGED_KV_CACHE_H_
#define TRILEMMA_ENGINES_STATE_PAGED_KV_CACHE_H_

#include "engines/state/kv_block_table.h"

namespace trilemma {

class PagedKvCache {
 public:
  PagedKvCache(KvBlockPool* pool, int layers, int kv_dim, int block_tokens)
      : table_(pool, layers, kv_dim, block_tokens) {}

  // Makes room for `more` tokens beyond the current ones.
  absl::Status Reserve(int64_t more) {
    return table_.EnsureSlots(tokens_ + more);
  }
  // Slot the next token is written to.
  int64_t next_slot() const { return tokens_; }
  // Slots holding tokens once the next token is written: [0, held_after()).
  int64_t held_after() const { return tokens_ + 1; }
  // Slot and held count of the token at `position` once those before it are
  // written (a prefill chunk places all its tokens up front).
  int64_t SlotAt(int64_t position) const { return position; }
  int64_t HeldAt(int64_t position) const { return position + 1; }
  void Advance() { ++tokens_; }

  int64_t tokens() const { return tokens_; }
  int64_t bytes() const { return table_.bytes(); }
  // Bytes after `more` further tokens.
  int64_t bytes_after(int64_t more) const {
    const int64_t blocks =
        std::max(table_.num_blocks(), table_.BlocksFor(tokens_ + more));
    return blocks * table_.block_bytes();
  }
  // Copies `other`'s tokens into this empty state (see KvBlockTable::CopyFrom).
  absl::Status CopyFrom(const PagedKvCache& other) {
    tokens_ = other.tokens_;
    return table_.CopyFrom(other.table_);
  }
  KvBlockTable& table() { return table_; }
  const KvBlockTable& table() const { return table_; }

 private:
  KvBlockTable table_;
  int64_t tokens_ = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_PAGED_KV_CACHE_H_
