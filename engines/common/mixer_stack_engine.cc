#include "engines/common/mixer_stack_engine.h"

#include <optional>
#include <utility>

#include "engines/ops/vector_ops.h"
#include "engines/state/fixed_state.h"
#include "engines/state/paged_kv_cache.h"
#include "engines/state/ring_window_kv.h"

namespace trilemma {

// One sequence: the fixed state and, when the stack keeps KV, exactly one of
// a paged cache or a ring window.
class MixerStackEngine::StackSession final : public Session {
 public:
  StackSession(FixedState fixed, std::optional<PagedKvCache> paged,
               std::optional<RingWindowKv> ring)
      : fixed_(std::move(fixed)),
        paged_(std::move(paged)),
        ring_(std::move(ring)) {}

  int64_t state_bytes() const override {
    return fixed_.bytes() + (paged_ ? paged_->bytes() : 0) +
           (ring_ ? ring_->bytes() : 0);
  }
  int64_t context_tokens() const override { return tokens_; }
  int64_t state_bytes_after(int64_t more) const override {
    return fixed_.bytes() + (paged_ ? paged_->bytes_after(more) : 0) +
           (ring_ ? ring_->bytes_after(more) : 0);
  }
  absl::Status Reserve(int64_t more) override {
    if (paged_) return paged_->Reserve(more);
    if (ring_) return ring_->Reserve(more);
    return absl::OkStatus();
  }

  absl::Status CopyFrom(const StackSession& other) {
    fixed_.CopyFrom(other.fixed_);
    tokens_ = other.tokens_;
    if (paged_) return paged_->CopyFrom(*other.paged_);
    if (ring_) return ring_->CopyFrom(*other.ring_);
    return absl::OkStatus();
  }

  float* fixed() { return fixed_.data(); }
  KvBlockTable* kv() {
    return paged_ ? &paged_->table() : ring_ ? &ring_->table() : nullptr;
  }
  int64_t next_slot() const {
    return paged_ ? paged_->next_slot() : ring_ ? ring_->next_slot() : 0;
  }
  // KV slots attended by the next token (0 without KV).
  int64_t held_after() const {
    return paged_ ? paged_->held_after() : ring_ ? ring_->held_after() : 0;
  }
  void Advance() {
    ++tokens_;
    if (paged_) paged_->Advance();
    if (ring_) ring_->Advance();
  }

 private:
  FixedState fixed_;
  std::optional<PagedKvCache> paged_;
  std::optional<RingWindowKv> ring_;
  int64_t tokens_ = 0;
};

MixerStackEngine::MixerStackEngine(v1::EngineInfo info, TensorMap weights,
                                   MixerStack stack, int64_t state_budget_bytes)
    : info_(std::move(info)),
      weights_(std::move(weights)),
      frame_(weights_),
      stack_(std::move(stack)) {
  const int layers = static_cast<int>(stack_.mixers.size());
  const int d = frame_.d_model();
  fixed_floats_ = int64_t{layers} * d;  // token-shift rows first
  for (int l = 0; l < layers; ++l) {
    blocks_.emplace_back(weights_, l);
    fixed_offset_.push_back(fixed_floats_);
    fixed_floats_ += stack_.mixers[l]->fixed_floats();
    kv_layer_.push_back(stack_.mixers[l]->keeps_kv() ? kv_layers_++ : -1);
  }
  if (kv_layers_ == 0) stack_.kv = MixerStack::Kv::kNone;
  const int64_t fixed_bytes = 4 * fixed_floats_;
  info_.set_state_budget_bytes(state_budget_bytes);
  info_.set_state_bytes_fixed(fixed_bytes);
  int64_t block_bytes = fixed_bytes;  // a pool granule; no blocks are taken
  if (stack_.kv == MixerStack::Kv::kNone) {
    info_.set_block_tokens(0);
    info_.set_block_bytes(0);
    info_.set_state_bytes_per_token(0);
    info_.set_state_bytes_cap(fixed_bytes);
  } else {
    const int block_tokens = info_.block_tokens();
    block_bytes =
        KvBlockTable::BlockBytes(kv_layers_, stack_.kv_dim, block_tokens);
    info_.set_block_bytes(block_bytes);
    info_.set_state_bytes_per_token(int64_t{4} * 2 * kv_layers_ *
                                    stack_.kv_dim);
    if (stack_.kv == MixerStack::Kv::kWindow) {
      const int64_t blocks = (stack_.window + block_tokens - 1) / block_tokens;
      info_.set_state_bytes_cap(fixed_bytes + blocks * block_bytes);
    } else {
      info_.set_state_bytes_cap(0);
    }
  }
  pool_ = std::make_unique<KvBlockPool>(info_.name(), state_budget_bytes,
                                        block_bytes);
}

MixerStackEngine::~MixerStackEngine() = default;

absl::StatusOr<std::unique_ptr<Session>> MixerStackEngine::NewSession() const {
  absl::StatusOr<FixedState> fixed =
      FixedState::Create(pool_.get(), fixed_floats_);
  if (!fixed.ok()) return fixed.status();
  std::optional<PagedKvCache> paged;
  std::optional<RingWindowKv> ring;
  const int block_tokens = info_.block_tokens();
  if (stack_.kv == MixerStack::Kv::kPaged) {
    paged.emplace(pool_.get(), kv_layers_, stack_.kv_dim, block_tokens);
  } else if (stack_.kv == MixerStack::Kv::kWindow) {
    ring.emplace(pool_.get(), kv_layers_, stack_.kv_dim, block_tokens,
                 stack_.window);
  }
  return std::unique_ptr<Session>(
      new StackSession(*std::move(fixed), std::move(paged), std::move(ring)));
}

absl::StatusOr<std::unique_ptr<Session>> MixerStackEngine::Fork(
    const Session& session) const {
  absl::StatusOr<std::unique_ptr<Session>> fork = NewSession();
  if (!fork.ok()) return fork.status();
  absl::Status copied =
      static_cast<StackSession*>(fork->get())
          ->CopyFrom(static_cast<const StackSession&>(session));
  if (!copied.ok()) return copied;
  return fork;
}

absl::Status MixerStackEngine::Step(absl::Span<Session* const> sessions,
                                    absl::Span<const int32_t> tokens,
                                    float* logits) const {
  const int64_t batch = static_cast<int64_t>(sessions.size());
  const int d = frame_.d_model();
  thread_local QkvScratch s;
  thread_local std::vector<float> h, normed;
  thread_local std::vector<float*> prev;
  h.resize(batch * d);
  normed.resize(batch * d);
  prev.resize(batch);
  auto session = [&](int64_t b) {
    return static_cast<StackSession*>(sessions[b]);
  };

  frame_.Embed(tokens, h.data());  // h: [B, d]
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const QkvBlock& block = blocks_[l];
    const int qk = block.qk_dim(), dv = block.v_dim();
    s.Resize(batch, d, qk, dv);
    for (int64_t b = 0; b < batch; ++b) prev[b] = session(b)->fixed() + l * d;
    // q, k: [B, qk]; v: [B, dv]
    block.Project(h.data(), batch, prev.data(), &s);
    for (int64_t b = 0; b < batch; ++b) {
      StackSession* ss = session(b);
      MixerState state;
      state.fixed = ss->fixed() + fixed_offset_[l];
      if (kv_layer_[l] >= 0) {
        state.kv = ss->kv();
        state.kv_layer = kv_layer_[l];
        state.slot = ss->next_slot();
        state.held = ss->held_after();
      }
      stack_.mixers[l]->Mix(&s.q[b * qk], &s.k[b * qk], &s.v[b * dv], state,
                            &s.o[b * dv]);  // o: [B, dv]
    }
    block.Output(batch, &s, h.data());  // h += o·Woᵀ
  }
  for (int64_t b = 0; b < batch; ++b) session(b)->Advance();
  frame_.Readout(h.data(), batch, normed.data(), logits);  // [B, V]
  return absl::OkStatus();
}

StepCost MixerStackEngine::NextStepCost(const Session& session) const {
  const int64_t held = static_cast<const StackSession&>(session).held_after();
  StepCost cost;
  for (size_t l = 0; l < blocks_.size(); ++l) {
    cost.flops += blocks_[l].Flops() + stack_.mixers[l]->Flops(held);
  }
  cost.flops += frame_.ReadoutFlops();
  // Weights once; the fixed state read and written; attended KV rows read.
  cost.bytes = weights_.num_floats() * 4 + 2 * 4 * fixed_floats_ +
               int64_t{kv_layers_} * held * stack_.kv_dim * 2 * 4;
  return cost;
}

}  // namespace trilemma
