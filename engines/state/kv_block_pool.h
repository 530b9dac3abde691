// KvBlockPool: one engine's state budget, carved into fixed-size blocks.
//
// Attention-family engines keep their KV in blocks taken from the pool;
// recurrent states are one fixed allocation charged to the same budget
// (`ChargeFixed`). The pool never holds more than `budget_bytes` in blocks
// plus fixed charges, so an engine's memory is explicit and bounded.
// Released blocks go on a free list (up to a 1 MiB / 16-block reserve) and
// are reused without touching malloc; beyond the reserve they are freed, so
// memory taken at a load peak is given back once sessions end.
//
// Example:
//   KvBlockPool pool("attention", /*budget_bytes=*/1 << 20,
//   /*block_bytes=*/4096); absl::StatusOr<float*> block = pool.AllocateBlock();
//   ...
//   pool.FreeBlock(*block);
//
// Thread-safe: every method may be called from any thread.
#ifndef TRILEMMA_ENGINES_STATE_KV_BLOCK_POOL_H_
#define TRILEMMA_ENGINES_STATE_KV_BLOCK_POOL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engines/state/kv_format.h"

namespace trilemma {

class KvBlockPool {
 public:
  // `engine_name` appears in RESOURCE_EXHAUSTED messages. `kv_format` is
  // how the KvBlockTables drawing from this pool store their rows (one
  // engine, one format), so block_bytes must be sized for it.
  // REQUIRES: budget_bytes > 0; block_bytes > 0 and a multiple of 4.
  KvBlockPool(std::string engine_name, int64_t budget_bytes,
              int64_t block_bytes, KvFormat kv_format = {});
  ~KvBlockPool();

  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  // A block of block_bytes()/4 floats, contents unspecified. The caller owns
  // it until FreeBlock. RESOURCE_EXHAUSTED naming the engine's state budget
  // when it is spent.
  absl::StatusOr<float*> AllocateBlock();
  // REQUIRES: `block` came from AllocateBlock of this pool and is not freed.
  void FreeBlock(float* block);

  // Charges a fixed allocation of `bytes` (held by the caller) to the budget.
  // RESOURCE_EXHAUSTED when it does not fit.
  absl::Status ChargeFixed(int64_t bytes);
  // REQUIRES: `bytes` were charged by ChargeFixed and not yet released.
  void ReleaseFixed(int64_t bytes);

  int64_t budget_bytes() const { return budget_bytes_; }
  int64_t block_bytes() const { return block_bytes_; }
  // Blocks plus fixed charges currently held by sessions.
  int64_t used_bytes() const;
  int64_t used_blocks() const;
  int64_t total_blocks() const { return budget_bytes_ / block_bytes_; }
  const std::string& engine_name() const { return engine_name_; }
  const KvFormat& kv_format() const { return kv_format_; }

 private:
  absl::Status Exhausted(int64_t wanted) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string engine_name_;
  const int64_t budget_bytes_;
  const int64_t block_bytes_;
  const KvFormat kv_format_;

  mutable absl::Mutex mu_;
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t used_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  // Released blocks, reused before new memory is allocated (bounded).
  std::vector<float*> free_list_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_KV_BLOCK_POOL_H_
