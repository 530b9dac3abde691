// FixedState: a recurrent state of constant size (an SSM's h, a linear
// attention's S, token-shift and conv buffers), one zero-initialised float
// allocation charged to the engine's KvBlockPool for the session's life.
//
// Example:
//   absl::StatusOr<FixedState> s = FixedState::Create(&pool, layers * d * n);
//   float* h = s->data();
//
// Not thread-safe: owned by one Session. Movable, not copyable.
#ifndef TRILEMMA_ENGINES_STATE_FIXED_STATE_H_
#define TRILEMMA_ENGINES_STATE_FIXED_STATE_H_

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {

class FixedState {
 public:
  // Charges floats*4 bytes to `pool` and allocates them zeroed.
  // RESOURCE_EXHAUSTED when the budget cannot take them.
  static absl::StatusOr<FixedState> Create(KvBlockPool* pool, int64_t floats) {
    absl::Status charged = pool->ChargeFixed(floats * 4);
    if (!charged.ok()) return charged;
    return FixedState(pool, floats);
  }
  FixedState(FixedState&& other) noexcept
      : pool_(other.pool_),
        floats_(other.floats_),
        data_(std::move(other.data_)) {
    other.pool_ = nullptr;
  }
  FixedState& operator=(FixedState&&) = delete;
  FixedState(const FixedState&) = delete;
  ~FixedState() {
    if (pool_ != nullptr) pool_->ReleaseFixed(floats_ * 4);
  }

  // REQUIRES: other.floats() == floats().
  void CopyFrom(const FixedState& other) {
    std::copy(other.data(), other.data() + floats_, data_.get());
  }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t floats() const { return floats_; }
  int64_t bytes() const { return floats_ * 4; }

 private:
  FixedState(KvBlockPool* pool, int64_t floats)
      : pool_(pool), floats_(floats), data_(new float[floats]()) {}

  KvBlockPool* pool_;
  int64_t floats_;
  std::unique_ptr<float[]> data_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_FIXED_STATE_H_
