// KV state policies that keep a bounded set of tokens and evict the rest, for
// the kv_evict engine (KvAttentionEngine's KvState contract; see
// engines/common/kv_attention_engine.h):
//
//   SinkWindowKv   StreamingLLM: the first `sinks` tokens plus the last
//                  `window` tokens.
//   HeavyHitterKv  H2O: the tokens that received the most attention so far
//                  plus the last `recent` tokens, `budget` tokens in all.
//
// One slot holds one token's keys and values for every layer, so the kept set
// is shared by all layers. Slots [0, held_after()) are always occupied
// (attention is order-free, so an evicted token's slot is simply reused).
// Blocks are taken from the pool lazily until the kept set is full; from then
// on the state and the per-step attention cost stay constant.
//
// Example (H2O with a budget of 8, keeping the last 3):
//   HeavyHitterKv kv =
//       HeavyHitterKv::Create(&pool, layers, kv_dim, block_tokens, 8, 3)
//           .value();
//   per step: kv.Reserve(1); write Key/Value(l, kv.next_slot()) and attend
//   over [0, kv.held_after()) for each layer, passing each layer's attention
//   weights to kv.ObserveAttention(l, ...); then kv.Advance().
//
// Not thread-safe: owned by one Session. Movable, not copyable.
#ifndef TRILEMMA_ENGINES_STATE_EVICTING_KV_H_
#define TRILEMMA_ENGINES_STATE_EVICTING_KV_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"

namespace trilemma {

// Keeps positions [0, sinks) forever and the last `window` positions in a
// ring after them: position p >= sinks lives in slot sinks + (p - sinks) mod
// window, so each new token overwrites the oldest non-sink token.
class SinkWindowKv {
 public:
  // REQUIRES: sinks >= 0, window >= 1.
  SinkWindowKv(KvBlockPool* pool, int layers, int kv_dim, int block_tokens,
               int64_t sinks, int64_t window)
      : table_(pool, layers, kv_dim, block_tokens),
        sinks_(sinks),
        window_(window) {}

  absl::Status Reserve(int64_t more) {
    return table_.EnsureSlots(std::min(kept(), tokens_ + more));
  }
  int64_t next_slot() const { return SlotAt(tokens_); }
  int64_t held_after() const { return HeldAt(tokens_); }
  // Slot and held count of the token at `position` once those before it are
  // written (a prefill chunk places all its tokens up front).
  int64_t SlotAt(int64_t position) const {
    return position < sinks_ ? position
                             : sinks_ + (position - sinks_) % window_;
  }
  int64_t HeldAt(int64_t position) const {
    return std::min(kept(), position + 1);
  }
  void Advance() { ++tokens_; }

  // Copies `other`'s tokens into this empty state of the same shape (see
  // KvBlockTable::CopyFrom).
  absl::Status CopyFrom(const SinkWindowKv& other) {
    tokens_ = other.tokens_;
    return table_.CopyFrom(other.table_);
  }

  int64_t tokens() const { return tokens_; }
  // Most tokens ever held: sinks + window.
  int64_t kept() const { return sinks_ + window_; }
  int64_t bytes() const { return table_.bytes(); }
  int64_t bytes_after(int64_t more) const {
    const int64_t blocks =
        std::max(table_.num_blocks(),
                 table_.BlocksFor(std::min(kept(), tokens_ + more)));
    return blocks * table_.block_bytes();
  }
  KvBlockTable& table() { return table_; }
  const KvBlockTable& table() const { return table_; }

 private:
  KvBlockTable table_;
  int64_t sinks_;
  int64_t window_;
  int64_t tokens_ = 0;
};

// Heavy-hitter eviction (H2O). Every kept token carries its accumulated
// attention mass: the softmax weight it received from every later query,
// summed over heads and over layers (one kept set serves all layers, so one
// score ranks it; a token useful to any layer is kept).
//
// Eviction is decided once per step, after the step's attention has been
// observed (in Advance), for the token that comes next at position p:
//   - while fewer than `budget` tokens are held, p takes a fresh slot;
//   - otherwise the candidates are the held tokens at positions <= p - recent
//     (so p and the recent - 1 tokens before it are never evicted), and the
//     one with the smallest mass is evicted, ties going to the oldest; p takes
//     its slot with a mass of zero.
// A new token's mass starts with the attention it pays itself at its own step.
//
// Bookkeeping (mass as a double, position as an int64 per kept slot) is a
// fixed FixedBytes(budget) charged to the pool when the state is created.
class HeavyHitterKv {
 public:
  static constexpr bool kWantsAttention = true;

  // Bytes of bookkeeping for a budget of `budget` tokens.
  static int64_t FixedBytes(int64_t budget) {
    return budget * static_cast<int64_t>(sizeof(double) + sizeof(int64_t));
  }

  // Charges the bookkeeping to `pool`; RESOURCE_EXHAUSTED when it does not
  // fit. REQUIRES: budget >= 1, 0 <= recent <= budget.
  static absl::StatusOr<HeavyHitterKv> Create(KvBlockPool* pool, int layers,
                                              int kv_dim, int block_tokens,
                                              int64_t budget, int64_t recent) {
    if (absl::Status s = pool->ChargeFixed(FixedBytes(budget)); !s.ok()) {
      return s;
    }
    return HeavyHitterKv(pool, layers, kv_dim, block_tokens, budget, recent);
  }
  HeavyHitterKv(HeavyHitterKv&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)),
        table_(std::move(other.table_)),
        budget_(other.budget_),
        recent_(other.recent_),
        tokens_(other.tokens_),
        next_slot_(other.next_slot_),
        mass_(std::move(other.mass_)),
        position_(std::move(other.position_)) {}
  HeavyHitterKv& operator=(HeavyHitterKv&&) = delete;
  ~HeavyHitterKv() {
    if (pool_ != nullptr) pool_->ReleaseFixed(FixedBytes(budget_));
  }

  absl::Status Reserve(int64_t more) {
    return table_.EnsureSlots(std::min(budget_, tokens_ + more));
  }
  int64_t next_slot() const { return next_slot_; }
  int64_t held_after() const { return std::min(budget_, tokens_ + 1); }

  // Adds one layer's attention weights (summed over heads) of this step to
  // the mass of slots [0, slots).
  void ObserveAttention(int /*layer*/, const float* probs, int64_t slots) {
    for (int64_t s = 0; s < slots; ++s) mass_[s] += probs[s];
  }

  // Records the token just written and picks the slot of the next one.
  void Advance() {
    position_[next_slot_] = tokens_;
    ++tokens_;
    if (tokens_ < budget_) {
      next_slot_ = tokens_;
      return;
    }
    const int64_t newest_evictable = tokens_ - recent_;
    int64_t victim = -1;
    for (int64_t s = 0; s < budget_; ++s) {
      if (position_[s] > newest_evictable) continue;
      if (victim < 0 || mass_[s] < mass_[victim] ||
          (mass_[s] == mass_[victim] && position_[s] < position_[victim])) {
        victim = s;
      }
    }
    next_slot_ = victim;  // exists: the oldest held token is a candidate
    mass_[victim] = 0.0;
  }

  // Copies `other`'s tokens, masses and next slot into this empty state of
  // the same shape (see KvBlockTable::CopyFrom).
  absl::Status CopyFrom(const HeavyHitterKv& other) {
    tokens_ = other.tokens_;
    next_slot_ = other.next_slot_;
    mass_ = other.mass_;
    position_ = other.position_;
    return table_.CopyFrom(other.table_);
  }

  int64_t tokens() const { return tokens_; }
  // Position of the token held in `slot` (-1 while never used) and its mass.
  int64_t position(int64_t slot) const { return position_[slot]; }
  double mass(int64_t slot) const { return mass_[slot]; }

  int64_t bytes() const { return table_.bytes() + FixedBytes(budget_); }
  int64_t bytes_after(int64_t more) const {
    const int64_t blocks =
        std::max(table_.num_blocks(),
                 table_.BlocksFor(std::min(budget_, tokens_ + more)));
    return blocks * table_.block_bytes() + FixedBytes(budget_);
  }
  KvBlockTable& table() { return table_; }
  const KvBlockTable& table() const { return table_; }

 private:
  HeavyHitterKv(KvBlockPool* pool, int layers, int kv_dim, int block_tokens,
                int64_t budget, int64_t recent)
      : pool_(pool),
        table_(pool, layers, kv_dim, block_tokens),
        budget_(budget),
        recent_(recent),
        mass_(budget, 0.0),
        position_(budget, -1) {}

  KvBlockPool* pool_;  // null once moved from
  KvBlockTable table_;
  int64_t budget_;
  int64_t recent_;
  int64_t tokens_ = 0;
  int64_t next_slot_ = 0;
  std::vector<double> mass_;       // [budget]
  std::vector<int64_t> position_;  // [budget]
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_EVICTING_KV_H_
