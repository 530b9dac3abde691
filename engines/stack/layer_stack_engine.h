// LayerStackEngine: the one engine every layer-stack architecture runs on — a
// frame (embedding, final norm, tied or untied readout) around a stack of
// blocks, each {norm, mixer, optional FFN, sequential or parallel residual}.
// Session state, the block pool, Step, Prefill, Fork and the cost model are
// written here once; an architecture supplies only weights and mixers
// (docs/engines.md, "Adding an architecture").
//
// Forward pass over R rows (a decode step: one row per session; a prefill
// chunk: consecutive rows of one session):
//   h = E[tokens]                                     [R, d]
//   for each block l:
//     a = mixer_l(norm_l(h))                          [R, d]
//     sequential: h += a;  h += ffn_l(ffn_norm_l(h))  [R, d]
//     parallel:   h += a + ffn_l(ffn_norm_l(h_in))    [R, d]
//   logits = final_norm(h) · Wᵀ                       [R, V]  (W = E if tied)
//
// Session state, all charged to the engine's KvBlockPool: one FixedState
// holding every mixer's fixed floats, and — when any mixer keeps KV — one
// KvPolicy (paged, ring window, sinks, heavy hitters, ring window + external
// store; kv_policy.h) with a KV layer per KV-keeping mixer. A policy's
// external tier is reported as Session::external_state_bytes and charged to
// no pool.
//
// Example:
//   LayerStack stack{.frame = frame, .kv = PagedKvPolicy(), .block_tokens =
//   16}; stack.blocks.push_back(std::move(block)); auto engine =
//   std::make_unique<LayerStackEngine>(
//       std::move(info), std::move(weights), std::move(stack), budget);
//
// Thread-safe like every Engine: immutable after construction.
#ifndef TRILEMMA_ENGINES_STACK_LAYER_STACK_ENGINE_H_
#define TRILEMMA_ENGINES_STACK_LAYER_STACK_ENGINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engines/common/tensor_map.h"
#include "engines/engine.h"
#include "engines/ops/matmul.h"
#include "engines/stack/block_parts.h"
#include "engines/stack/kv_policy.h"
#include "engines/stack/mixer.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {

struct StackFrame {
  int d_model = 0;
  int vocab = 0;
  const float* embed = nullptr;    // [V, d]
  Norm final_norm;                 // width d
  const float* readout = nullptr;  // [V, d]; == embed when tied
};

struct StackBlock {
  enum class Residual { kSequential, kParallel };
  Norm norm;  // before the mixer
  std::unique_ptr<Mixer> mixer;
  std::optional<Ffn> ffn;  // none: a mixer-only block (Mamba)
  Norm ffn_norm;           // before the FFN (unused without one)
  Residual residual = Residual::kSequential;
};

struct LayerStack {
  StackFrame frame;
  std::vector<StackBlock> blocks;
  KvPolicySpec kv;  // ignored when no mixer keeps KV
  int block_tokens = 16;
};

class LayerStackEngine final : public Engine {
 public:
  // Fills info's state fields (block_tokens, block_bytes, budget,
  // state_bytes_fixed / per_token / cap); the caller fills the rest.
  // REQUIRES: the stack's pointers point into *weights; every KV-keeping
  //           mixer declares the same kv_dim, and then stack.kv.make is set.
  LayerStackEngine(v1::EngineInfo info,
                   std::shared_ptr<const TensorMap> weights, LayerStack stack,
                   int64_t state_budget_bytes);
  ~LayerStackEngine() override;

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return *pool_; }
  const TensorMap& weights() const override { return *weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override;
  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override;
  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override;
  // Runs the tokens through the stack in chunks of rows (one matmul per
  // projection per chunk); same state and logits as stepping.
  absl::Status Prefill(Session* session, absl::Span<const int32_t> tokens,
                       float* logits) const override;
  StepCost NextStepCost(const Session& session) const override;
  // Frees the calling thread's forward scratch: this engine's ForwardScratch
  // and its mixers' and FFNs' (every ops::ThreadScratch of the thread).
  void ReleaseScratch() const override;

 private:
  class StackSession;
  // Where one row's token sits in its session.
  struct RowPlace {
    StackSession* session;
    int64_t position;
    int64_t slot;
    int64_t held;
  };
  // Forward's buffers, one set per thread as an ops::ThreadScratch (Step and
  // Prefill run on whichever thread calls them, concurrently for different
  // sessions): each stays at the largest R met until ReleaseScratch.
  struct ForwardScratch {
    std::vector<float> h, xn, mixed, ffn_in, ffn_out;  // [R, d] each
    std::vector<MixerRow> mixer_rows;                  // [R]
    std::vector<RowPlace> rows;                        // Step/PrefillChunk
  };
  // Runs `tokens` of one session as one chunk of rows; false (nothing run)
  // when its KV policy cannot place them ahead.
  // An error from the policy's BeforeWrite is returned unchanged.
  absl::StatusOr<bool> PrefillChunk(StackSession* session,
                                    absl::Span<const int32_t> tokens,
                                    float* logits) const;

  // Runs rows through the blocks; writes logits for rows
  // [rows.size() - logit_rows, rows.size()) when logits is non-null.
  void Forward(absl::Span<const int32_t> tokens,
               absl::Span<const RowPlace> rows, int64_t logit_rows,
               float* logits) const;

  v1::EngineInfo info_;
  std::shared_ptr<const TensorMap> weights_;
  LayerStack stack_;
  std::vector<int64_t> fixed_offset_;  // per block, into the fixed state
  std::vector<int> kv_layer_;          // per block, -1 when it keeps no KV
  int kv_layers_ = 0;
  int kv_dim_ = 0;
  int64_t fixed_floats_ = 0;
  std::unique_ptr<KvBlockPool> pool_;
  ops::LinearWeight readout_;  // stack_.frame.readout, packed
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STACK_LAYER_STACK_ENGINE_H_
