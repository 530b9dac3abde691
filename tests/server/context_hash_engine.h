// ContextHashEngine: a fake engine for scheduler tests whose greedy output is
// a hash of its whole context, read back from paged KV blocks.
//
// Each session stores every consumed token in a KvBlockTable drawn from the
// engine's KvBlockPool (block_tokens tokens per block), exactly like an
// attention engine's paged KV, and its logits put all mass on
// hash(context) mod vocab. So a scheduler that drops, repeats or reorders a
// token while recomputing a preempted session, or steps a session it did not
// Reserve, produces different tokens or a FAILED_PRECONDITION, and the
// tests see it. It also records the pool's high-water mark at every call,
// so tests can assert the budget was never exceeded.
//
// Example:
//   ContextHashEngine engine(/*budget_bytes=*/12 * engine.block_bytes());
//   EngineScheduler scheduler(&engine, &metrics, {});
//
// Thread-safe like any Engine; sessions are not.
#ifndef TRILEMMA_TESTS_SERVER_CONTEXT_HASH_ENGINE_H_
#define TRILEMMA_TESTS_SERVER_CONTEXT_HASH_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "engines/common/tensor_map.h"
#include "engines/engine.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma::testing {

class ContextHashEngine final : public Engine {
 public:
  static constexpr int kBlockTokens = 4;
  static constexpr int kVocab = 64;
  // Bytes of one block (1 layer, kv_dim 1, kBlockTokens tokens).
  static int64_t BlockBytes();

  explicit ContextHashEngine(int64_t budget_bytes);

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return pool_; }
  const TensorMap& weights() const override { return weights_; }
  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override;
  // FAILED_PRECONDITION when a session appears twice or was not Reserve(1)d.
  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override;
  // One FLOP per context token, so prefill cost accounting is exercised.
  StepCost NextStepCost(const Session& session) const override;

  // The largest pool.used_bytes() seen at any Step.
  int64_t max_used_bytes() const { return max_used_bytes_.load(); }

 private:
  v1::EngineInfo info_;
  TensorMap weights_;
  mutable KvBlockPool pool_;
  mutable std::atomic<int64_t> max_used_bytes_{0};
};

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_SERVER_CONTEXT_HASH_ENGINE_H_
