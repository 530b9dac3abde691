// KvAttentionEngine<KvState>: a stack of softmax-attention blocks over a KV
// state policy. Full attention, sliding windows and KV eviction differ only in
// which slots a token is written to and which are kept, so each of those
// engine folders supplies a KvState and a preset and instantiates this.
//
// A KvState provides (see PagedKvCache, RingWindowKv):
//   absl::Status Reserve(int64_t more);   int64_t next_slot() const;
//   int64_t held_after() const;           void Advance();
//   int64_t tokens() const;               int64_t bytes() const;
//   int64_t bytes_after(int64_t) const;   KvBlockTable& table();
// and, when it sets `static constexpr bool kWantsAttention = true`,
//   void ObserveAttention(int layer, const float* probs, int64_t slots);
// which receives each layer's softmax weights (summed over heads) per slot.
//
// Forward pass for one step of B sessions (see Step):
//   h = E[tokens]                                   [B, d]
//   for each layer l:
//     q, k, v = QkvBlock(l).Project(h)              [B, H*hd] each
//     for each session b:                           (its own KV state)
//       slot = kv_b.next_slot(); K_b[l][slot] = k_b; V_b[l][slot] = v_b
//       o_b = Σ_s softmax_s(q_b·K_b[l][s] / √hd) V_b[l][s]   per head
//     h += o · Woᵀ                                  [B, d]
//   logits = RmsNorm(h) · Eᵀ                        [B, V]
#ifndef TRILEMMA_ENGINES_COMMON_KV_ATTENTION_ENGINE_H_
#define TRILEMMA_ENGINES_COMMON_KV_ATTENTION_ENGINE_H_

#include <cmath>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/engine.h"
#include "engines/ops/attention.h"
#include "engines/ops/vector_ops.h"
#include "engines/state/fixed_state.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {

template <typename KvState>
class KvAttentionEngine final : public Engine {
 public:
  // Makes a fresh KvState for a session over `pool`; an error (e.g. the
  // budget cannot take the state's fixed part) fails NewSession. A callable
  // returning KvState converts.
  using KvStateFactory =
      std::function<absl::StatusOr<KvState>(KvBlockPool* pool)>;

  // REQUIRES: weights hold the frame and `layers` QkvBlocks with
  // qk_dim == v_dim == heads * head_dim; info is complete but for the budget.
  KvAttentionEngine(v1::EngineInfo info, TensorMap weights, int heads,
                    int64_t state_budget_bytes, KvStateFactory make_state)
      : info_(std::move(info)),
        weights_(std::move(weights)),
        frame_(weights_),
        heads_(heads),
        make_state_(std::move(make_state)) {
    const int layers = info_.shape().layers();
    for (int l = 0; l < layers; ++l) blocks_.emplace_back(weights_, l);
    kv_dim_ = blocks_[0].qk_dim();
    head_dim_ = kv_dim_ / heads_;
    const int block_tokens = info_.block_tokens();
    const int64_t block_bytes =
        KvBlockTable::BlockBytes(layers, kv_dim_, block_tokens);
    pool_ = std::make_unique<KvBlockPool>(info_.name(), state_budget_bytes,
                                          block_bytes);
    info_.set_block_bytes(block_bytes);
    info_.set_state_budget_bytes(state_budget_bytes);
    // The token shift; a KvState with fixed bookkeeping of its own (kv_evict's
    // H2O) passes info with the sum already set.
    if (info_.state_bytes_fixed() == 0) {
      info_.set_state_bytes_fixed(int64_t{4} * layers * frame_.d_model());
    }
    info_.set_state_bytes_per_token(int64_t{4} * 2 * layers * kv_dim_);
  }

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return *pool_; }
  const TensorMap& weights() const override { return weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override {
    absl::StatusOr<FixedState> shift = FixedState::Create(
        pool_.get(), static_cast<int64_t>(blocks_.size()) * frame_.d_model());
    if (!shift.ok()) return shift.status();
    absl::StatusOr<KvState> kv = make_state_(pool_.get());
    if (!kv.ok()) return kv.status();
    return std::unique_ptr<Session>(
        new KvSession(*std::move(kv), *std::move(shift)));
  }

  // Available when the KvState has `absl::Status CopyFrom(const KvState&)`.
  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override {
    if constexpr (requires(KvState a, const KvState& b) { a.CopyFrom(b); }) {
      const auto& from = static_cast<const KvSession&>(session);
      absl::StatusOr<std::unique_ptr<Session>> fork = NewSession();
      if (!fork.ok()) return fork.status();
      auto* to = static_cast<KvSession*>(fork->get());
      to->shift.CopyFrom(from.shift);
      if (absl::Status s = to->kv.CopyFrom(from.kv); !s.ok()) return s;
      return fork;
    } else {
      return Engine::Fork(session);
    }
  }

  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override {
    const int64_t batch = static_cast<int64_t>(sessions.size());
    const int d = frame_.d_model();
    thread_local QkvScratch s;
    thread_local std::vector<float> h, normed, scores;
    thread_local std::vector<float*> prev;
    s.Resize(batch, d, kv_dim_, kv_dim_);
    h.resize(batch * d);
    normed.resize(batch * d);
    prev.resize(batch);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));

    frame_.Embed(tokens, h.data());  // h: [B, d]
    for (size_t l = 0; l < blocks_.size(); ++l) {
      for (int64_t b = 0; b < batch; ++b) {
        prev[b] = Cast(sessions[b])->shift.data() + l * d;
      }
      blocks_[l].Project(h.data(), batch, prev.data(), &s);  // q, k, v: [B, kv]
      for (int64_t b = 0; b < batch; ++b) {
        KvState& kv = Cast(sessions[b])->kv;
        const int64_t slot = kv.next_slot();
        ops::Copy(&s.k[b * kv_dim_], kv.table().Key(l, slot), kv_dim_);
        ops::Copy(&s.v[b * kv_dim_], kv.table().Value(l, slot), kv_dim_);
        const int64_t held = kv.held_after();
        scores.resize(2 * held);
        float* probs = nullptr;
        if constexpr (kWantsAttention) probs = scores.data() + held;
        ops::AttendSlots(&s.q[b * kv_dim_], heads_, head_dim_, scale,
                         kv.table(), l, held, scores.data(), &s.o[b * kv_dim_],
                         probs);
        if constexpr (kWantsAttention) kv.ObserveAttention(l, probs, held);
      }
      blocks_[l].Output(batch, &s, h.data());  // h += o·Woᵀ
    }
    for (Session* session : sessions) Cast(session)->kv.Advance();
    frame_.Readout(h.data(), batch, normed.data(), logits);  // [B, V]
    return absl::OkStatus();
  }

  StepCost NextStepCost(const Session& session) const override {
    const int64_t held = static_cast<const KvSession&>(session).kv.held_after();
    StepCost cost;
    for (const QkvBlock& block : blocks_) {
      cost.flops += block.Flops() + ops::AttendFlops(held, kv_dim_);
    }
    cost.flops += frame_.ReadoutFlops();
    const int64_t layers = static_cast<int64_t>(blocks_.size());
    cost.bytes = weights_.num_floats() * 4 + layers * held * kv_dim_ * 2 * 4;
    return cost;
  }

 private:
  template <typename T>
  static constexpr bool WantsAttention(decltype(T::kWantsAttention)*) {
    return T::kWantsAttention;
  }
  template <typename T>
  static constexpr bool WantsAttention(...) {
    return false;
  }
  static constexpr bool kWantsAttention = WantsAttention<KvState>(nullptr);

  struct KvSession final : Session {
    KvSession(KvState kv_state, FixedState shift_state)
        : kv(std::move(kv_state)), shift(std::move(shift_state)) {}
    int64_t state_bytes() const override { return kv.bytes() + shift.bytes(); }
    int64_t context_tokens() const override { return kv.tokens(); }
    int64_t state_bytes_after(int64_t more) const override {
      return kv.bytes_after(more) + shift.bytes();
    }
    absl::Status Reserve(int64_t more) override { return kv.Reserve(more); }

    KvState kv;
    FixedState shift;  // [layers, d]: previous token's normed block input
  };
  static KvSession* Cast(Session* s) { return static_cast<KvSession*>(s); }

  v1::EngineInfo info_;
  TensorMap weights_;
  LmFrame frame_;
  std::vector<QkvBlock> blocks_;
  int heads_;
  int kv_dim_ = 0;
  int head_dim_ = 0;
  KvStateFactory make_state_;
  std::unique_ptr<KvBlockPool> pool_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_KV_ATTENTION_ENGINE_H_
