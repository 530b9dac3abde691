#include "engines/stack/layer_stack_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engines/ops/attention.h"
#include "engines/ops/matmul.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/state/fixed_state.h"
#include "engines/state/kv_block_table.h"

namespace trilemma {
namespace {

// Rows per Forward during prefill: bounds the [R, ff] scratch while keeping
// the projections large enough to run near the matmul peak.
constexpr int64_t kPrefillRows = 256;

}  // namespace

// One sequence: every mixer's fixed floats and, when the stack keeps KV, its
// KV policy.
class LayerStackEngine::StackSession final : public Session {
 public:
  StackSession(FixedState fixed, std::unique_ptr<KvPolicy> kv)
      : fixed_(std::move(fixed)), kv_(std::move(kv)) {}

  int64_t state_bytes() const override {
    return fixed_.bytes() + (kv_ ? kv_->bytes() : 0);
  }
  int64_t external_state_bytes() const override {
    return kv_ ? kv_->external_bytes() : 0;
  }
  int64_t context_tokens() const override { return tokens_; }
  int64_t state_bytes_after(int64_t more) const override {
    return fixed_.bytes() + (kv_ ? kv_->bytes_after(more) : 0);
  }
  absl::Status Reserve(int64_t more) override {
    return kv_ ? kv_->Reserve(more) : absl::OkStatus();
  }

  absl::Status CopyFrom(const StackSession& other) {
    fixed_.CopyFrom(other.fixed_);
    tokens_ = other.tokens_;
    return kv_ ? kv_->CopyFrom(*other.kv_) : absl::OkStatus();
  }

  float* fixed() { return fixed_.data(); }
  KvPolicy* policy() { return kv_.get(); }
  const KvPolicy* policy() const { return kv_.get(); }
  KvBlockTable* kv() { return kv_ ? &kv_->table() : nullptr; }
  int64_t tokens() const { return tokens_; }
  // The token `ahead` after the next one: its slot and held count, or false
  // when the policy cannot say before seeing the tokens between.
  bool Place(int64_t ahead, int64_t* slot, int64_t* held) const {
    if (!kv_) {
      *slot = 0;
      *held = 0;
      return true;
    }
    return kv_->Place(ahead, slot, held);
  }
  absl::Status BeforeWrite() {
    return kv_ ? kv_->BeforeWrite() : absl::OkStatus();
  }
  void Advance(int64_t n) {
    tokens_ += n;
    if (kv_) kv_->Advance(n);
  }

 private:
  FixedState fixed_;
  std::unique_ptr<KvPolicy> kv_;
  int64_t tokens_ = 0;
};

LayerStackEngine::LayerStackEngine(v1::EngineInfo info,
                                   std::shared_ptr<const TensorMap> weights,
                                   LayerStack stack, int64_t state_budget_bytes)
    : info_(std::move(info)),
      weights_(std::move(weights)),
      stack_(std::move(stack)),
      readout_(stack_.frame.readout, stack_.frame.vocab, stack_.frame.d_model) {
  for (const StackBlock& block : stack_.blocks) {
    const MixerStateDecl decl = block.mixer->state();
    fixed_offset_.push_back(fixed_floats_);
    fixed_floats_ += decl.fixed_floats;
    if (decl.kv_dim > 0) {
      kv_dim_ = decl.kv_dim;
      kv_layer_.push_back(kv_layers_++);
    } else {
      kv_layer_.push_back(-1);
    }
  }
  if (kv_layers_ == 0) stack_.kv = KvPolicySpec{};
  const int64_t fixed_bytes = 4 * fixed_floats_ + stack_.kv.fixed_bytes;
  info_.set_state_budget_bytes(state_budget_bytes);
  info_.set_state_bytes_fixed(fixed_bytes);
  info_.set_external_bytes_per_token(stack_.kv.external_bytes_per_token);
  // Without KV no block is ever taken; the granule only has to be positive.
  int64_t block_bytes = std::max<int64_t>(fixed_bytes, 4);
  if (!stack_.kv.make) {
    info_.set_block_tokens(0);
    info_.set_block_bytes(0);
    info_.set_state_bytes_per_token(0);
    info_.set_state_bytes_cap(fixed_bytes);
  } else {
    info_.set_block_tokens(stack_.block_tokens);
    block_bytes = KvBlockTable::BlockBytes(
        kv_layers_, kv_dim_, stack_.block_tokens, stack_.kv.format);
    info_.set_block_bytes(block_bytes);
    // Compressed formats included: BlockBytes is whole bytes per token.
    info_.set_state_bytes_per_token(block_bytes / stack_.block_tokens);
    const int64_t kept = stack_.kv.kept_tokens;
    info_.set_state_bytes_cap(
        kept > 0 ? fixed_bytes + (kept + stack_.block_tokens - 1) /
                                     stack_.block_tokens * block_bytes
                 : 0);
  }
  pool_ = std::make_unique<KvBlockPool>(info_.name(), state_budget_bytes,
                                        block_bytes, stack_.kv.format);
}

LayerStackEngine::~LayerStackEngine() = default;

absl::StatusOr<std::unique_ptr<Session>> LayerStackEngine::NewSession() const {
  absl::StatusOr<FixedState> fixed =
      FixedState::Create(pool_.get(), fixed_floats_);
  if (!fixed.ok()) return fixed.status();
  std::unique_ptr<KvPolicy> kv;
  if (stack_.kv.make) {
    absl::StatusOr<std::unique_ptr<KvPolicy>> made =
        stack_.kv.make(pool_.get(), kv_layers_, kv_dim_, stack_.block_tokens);
    if (!made.ok()) return made.status();
    kv = *std::move(made);
  }
  return std::unique_ptr<Session>(
      new StackSession(*std::move(fixed), std::move(kv)));
}

absl::StatusOr<std::unique_ptr<Session>> LayerStackEngine::Fork(
    const Session& session) const {
  absl::StatusOr<std::unique_ptr<Session>> fork = NewSession();
  if (!fork.ok()) return fork.status();
  absl::Status copied =
      static_cast<StackSession*>(fork->get())
          ->CopyFrom(static_cast<const StackSession&>(session));
  if (!copied.ok()) return copied;
  return fork;
}

void LayerStackEngine::ReleaseScratch() const { ops::ReleaseThreadScratch(); }

void LayerStackEngine::Forward(absl::Span<const int32_t> tokens,
                               absl::Span<const RowPlace> rows,
                               int64_t logit_rows, float* logits) const {
  const StackFrame& frame = stack_.frame;
  const int64_t r_count = static_cast<int64_t>(rows.size());
  const int d = frame.d_model;
  ForwardScratch& scratch = ops::ThreadScratch<ForwardScratch>();
  std::vector<float>& h = scratch.h;
  std::vector<float>& xn = scratch.xn;
  std::vector<float>& mixed = scratch.mixed;
  std::vector<float>& ffn_in = scratch.ffn_in;
  std::vector<float>& ffn_out = scratch.ffn_out;
  std::vector<MixerRow>& mixer_rows = scratch.mixer_rows;
  h.resize(r_count * d);
  xn.resize(r_count * d);
  mixed.resize(r_count * d);
  mixer_rows.resize(r_count);

  for (int64_t r = 0; r < r_count; ++r) {  // h: [R, d]
    ops::Copy(frame.embed + int64_t{tokens[r]} * d, &h[r * d], d);
  }
  for (size_t l = 0; l < stack_.blocks.size(); ++l) {
    const StackBlock& block = stack_.blocks[l];
    for (int64_t r = 0; r < r_count; ++r) {
      const RowPlace& place = rows[r];
      MixerRow& row = mixer_rows[r];
      row.fixed = place.session->fixed() + fixed_offset_[l];
      row.kv = kv_layer_[l] >= 0 ? place.session->kv() : nullptr;
      row.kv_layer = kv_layer_[l];
      row.position = place.position;
      row.slot = place.slot;
      row.held = place.held;
      KvPolicy* policy = place.session->policy();
      row.observer =
          policy != nullptr && policy->wants_attention() ? policy : nullptr;
      row.external =
          policy != nullptr && policy->retrieve_k() > 0 ? policy : nullptr;
    }
    block.norm.Apply(h.data(), r_count, xn.data());             // [R, d]
    block.mixer->Forward(xn.data(), mixer_rows, mixed.data());  // [R, d]
    if (!block.ffn) {
      ops::Add(mixed.data(), h.data(), r_count * d);
      continue;
    }
    ffn_in.resize(r_count * d);
    ffn_out.resize(r_count * d);
    if (block.residual == StackBlock::Residual::kParallel) {
      block.ffn_norm.Apply(h.data(), r_count, ffn_in.data());  // of h_in
      ops::Add(mixed.data(), h.data(), r_count * d);
    } else {
      ops::Add(mixed.data(), h.data(), r_count * d);
      block.ffn_norm.Apply(h.data(), r_count, ffn_in.data());  // of h + a
    }
    block.ffn->Forward(ffn_in.data(), r_count, ffn_out.data());  // [R, d]
    ops::Add(ffn_out.data(), h.data(), r_count * d);
  }
  if (logits == nullptr) return;
  const int64_t first = r_count - logit_rows;
  frame.final_norm.Apply(&h[first * d], logit_rows, xn.data());  // [Rl, d]
  ops::Linear(xn.data(), logit_rows, readout_, logits);          // [Rl, V]
}

absl::Status LayerStackEngine::Step(absl::Span<Session* const> sessions,
                                    absl::Span<const int32_t> tokens,
                                    float* logits) const {
  std::vector<RowPlace>& rows = ops::ThreadScratch<ForwardScratch>().rows;
  rows.clear();
  for (Session* s : sessions) {
    auto* session = static_cast<StackSession*>(s);
    RowPlace& row = rows.emplace_back();
    row.session = session;
    row.position = session->tokens();
    session->Place(0, &row.slot, &row.held);
    if (absl::Status s = session->BeforeWrite(); !s.ok()) return s;
  }
  Forward(tokens, rows, static_cast<int64_t>(rows.size()), logits);
  for (Session* s : sessions) static_cast<StackSession*>(s)->Advance(1);
  return absl::OkStatus();
}

absl::StatusOr<bool> LayerStackEngine::PrefillChunk(
    StackSession* session, absl::Span<const int32_t> tokens,
    float* logits) const {
  std::vector<RowPlace>& rows = ops::ThreadScratch<ForwardScratch>().rows;
  rows.clear();
  for (size_t i = 0; i < tokens.size(); ++i) {
    RowPlace& row = rows.emplace_back();
    row.session = session;
    row.position = session->tokens() + static_cast<int64_t>(i);
    if (!session->Place(static_cast<int64_t>(i), &row.slot, &row.held)) {
      return false;
    }
  }
  if (absl::Status s = session->BeforeWrite(); !s.ok()) return s;
  Forward(tokens, rows, 1, logits);
  session->Advance(static_cast<int64_t>(tokens.size()));
  return true;
}

absl::Status LayerStackEngine::Prefill(Session* s,
                                       absl::Span<const int32_t> tokens,
                                       float* logits) const {
  auto* session = static_cast<StackSession*>(s);
  const int64_t total = static_cast<int64_t>(tokens.size());
  for (int64_t begin = 0; begin < total; begin += kPrefillRows) {
    const int64_t n = std::min(kPrefillRows, total - begin);
    float* out = begin + n == total ? logits : nullptr;
    absl::StatusOr<bool> ran =
        PrefillChunk(session, tokens.subspan(begin, n), out);
    if (!ran.ok()) return ran.status();
    if (*ran) continue;
    // A policy that must see each token's attention first (heavy hitters)
    // or store each leaving token first (an external store): one at a time.
    return Engine::Prefill(s, tokens.subspan(begin), logits);
  }
  return absl::OkStatus();
}

StepCost LayerStackEngine::NextStepCost(const Session& s) const {
  const auto& session = static_cast<const StackSession&>(s);
  int64_t slot = 0, held = 0;
  session.Place(0, &slot, &held);
  StepCost cost;
  for (const StackBlock& block : stack_.blocks) {
    cost.flops +=
        block.mixer->Flops(held) + (block.ffn ? block.ffn->Flops() : 0);
  }
  cost.flops += 2 * int64_t{stack_.frame.vocab} * stack_.frame.d_model;
  // Weights once; the fixed state read and written; attended KV rows read
  // (in their stored format).
  cost.bytes = weights_->num_floats() * 4 + 2 * 4 * fixed_floats_ +
               held * info_.state_bytes_per_token();
  // An external store: its index's query·key products, and one mixer
  // attending over the retrieved rows (kv_policy.h, NextExternalWork).
  if (const KvPolicy* policy = session.policy(); policy != nullptr) {
    const KvPolicy::ExternalWork work = policy->NextExternalWork();
    cost.flops +=
        ops::AttendFlops(work.retrieved, kv_dim_) + 2 * work.products * kv_dim_;
    cost.bytes += (work.retrieved * 2 + work.products) * kv_dim_ * 4;
  }
  return cost;
}

}  // namespace trilemma
