// MixerStackEngine: the engine scaffold for a stack of QkvBlocks whose token
// mixers keep a per-session matrix state (linear attention, the delta rule)
// and/or softmax KV rows (paged or windowed), in any mix per block — the
// recurrent families and their hybrids with attention. A family supplies the
// weights and one TokenMixer per block; the scaffold owns the pool, the
// sessions, the batched step, Fork and the cost model.
//
// Forward pass for one step of B sessions (see Step):
//   h = E[tokens]                                          [B, d]
//   for each block l:
//     q, k, v = QkvBlock(l).Project(h)          [B, qk], [B, qk], [B, dv]
//     for each session b:
//       o_b = mixer_l.Mix(q_b, k_b, v_b; state_b)          [dv]
//     h += o · Wo_lᵀ                                       [B, d]
//   logits = RmsNorm(h) · Eᵀ                               [B, V]
//
// Session state, all charged to the engine's KvBlockPool:
//   fixed: one FixedState [L·d token-shift rows | each mixer's fixed floats]
//   kv:    none, a PagedKvCache or a RingWindowKv with one KV layer per mixer
//          that keeps_kv() (in block order).
//
// Example:
//   MixerStack stack;
//   for (int l = 0; l < depth; ++l) stack.mixers.push_back(MakeMixer(l));
//   auto engine = std::make_unique<MixerStackEngine>(
//       std::move(info), std::move(weights), std::move(stack), budget);
//
// Thread-safe like every Engine: immutable after construction.
#ifndef TRILEMMA_ENGINES_COMMON_MIXER_STACK_ENGINE_H_
#define TRILEMMA_ENGINES_COMMON_MIXER_STACK_ENGINE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/engine.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"

namespace trilemma {

// What a mixer sees of one session for its block.
struct MixerState {
  float* fixed = nullptr;  // the mixer's fixed_floats() floats (zero at first)
  KvBlockTable* kv = nullptr;  // null unless the mixer keeps_kv()
  int kv_layer = -1;           // this mixer's layer in `kv`
  int64_t slot = 0;            // the slot this token's key/value goes to
  int64_t held = 0;            // slots [0, held) hold tokens once it is written
};

// One block's token mixer: reads this token's q, k, v and the session's
// state, updates the state and yields the block's mixer output. Immutable
// (per-head parameters are copied in at construction); thread-safe.
class TokenMixer {
 public:
  virtual ~TokenMixer() = default;
  // Floats of fixed per-session state this mixer keeps (matrix memories).
  virtual int64_t fixed_floats() const = 0;
  // Whether the mixer writes a KV row per token (into MixerState::kv).
  virtual bool keeps_kv() const { return false; }
  // q, k: [qk]; v, o: [dv] (the block's widths).
  virtual void Mix(const float* q, const float* k, const float* v,
                   const MixerState& state, float* o) const = 0;
  // FLOPs of one Mix when `held` KV slots are attended (0 without KV).
  virtual int64_t Flops(int64_t held) const = 0;
};

// The mixers of a stack and the KV state policy of the sessions.
struct MixerStack {
  enum class Kv { kNone, kPaged, kWindow };
  std::vector<std::unique_ptr<TokenMixer>> mixers;  // mixers[l] follows block l
  Kv kv = Kv::kNone;
  int kv_dim = 0;      // width of one key (and value) row
  int64_t window = 0;  // Kv::kWindow only: tokens kept
};

class MixerStackEngine final : public Engine {
 public:
  // Fills info's state fields (block bytes, budget, state_bytes_fixed /
  // per_token / cap); block_tokens is read from info when stack.kv != kNone
  // and set to 0 otherwise.
  // REQUIRES: weights hold the frame and stack.mixers.size() QkvBlocks
  //           (layers 0..L-1); KV-keeping mixers use stack.kv_dim.
  MixerStackEngine(v1::EngineInfo info, TensorMap weights, MixerStack stack,
                   int64_t state_budget_bytes);
  ~MixerStackEngine() override;

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return *pool_; }
  const TensorMap& weights() const override { return weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override;
  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override;
  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override;
  StepCost NextStepCost(const Session& session) const override;

 private:
  class StackSession;

  v1::EngineInfo info_;
  TensorMap weights_;
  LmFrame frame_;
  std::vector<QkvBlock> blocks_;
  MixerStack stack_;
  std::vector<int64_t> fixed_offset_;  // per block, into the fixed state
  std::vector<int> kv_layer_;          // per block, -1 when it keeps no KV
  int kv_layers_ = 0;
  int64_t fixed_floats_ = 0;
  std::unique_ptr<KvBlockPool> pool_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_MIXER_STACK_ENGINE_H_
