#include "tests/server/context_hash_engine.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engines/state/kv_block_table.h"

namespace trilemma::testing {
namespace {

class ContextHashSession final : public Session {
 public:
  explicit ContextHashSession(KvBlockPool* pool)
      : table_(pool, /*layers=*/1, /*kv_dim=*/1,
               ContextHashEngine::kBlockTokens) {}

  int64_t state_bytes() const override { return table_.bytes(); }
  int64_t context_tokens() const override { return tokens_; }
  int64_t state_bytes_after(int64_t more_tokens) const override {
    return std::max(table_.num_blocks(),
                    table_.BlocksFor(tokens_ + more_tokens)) *
           ContextHashEngine::BlockBytes();
  }
  absl::Status Reserve(int64_t more_tokens) override {
    return table_.EnsureSlots(tokens_ + more_tokens);
  }

  bool CanTakeOne() const { return table_.capacity_slots() > tokens_; }
  void Append(int32_t token) {
    *table_.Key(0, tokens_) = static_cast<float>(token);
    ++tokens_;
  }
  // Folds every stored token, read back from the blocks.
  uint32_t Hash() const {
    uint32_t h = 2166136261u;
    for (int64_t i = 0; i < tokens_; ++i) {
      h = (h ^ static_cast<uint32_t>(*table_.Key(0, i))) * 16777619u;
    }
    return h;
  }

 private:
  KvBlockTable table_;
  int64_t tokens_ = 0;
};

}  // namespace

int64_t ContextHashEngine::BlockBytes() {
  return KvBlockTable::BlockBytes(1, 1, kBlockTokens);
}

ContextHashEngine::ContextHashEngine(int64_t budget_bytes)
    : pool_("context_hash", budget_bytes, BlockBytes()) {
  info_.set_name("context_hash");
  info_.set_family("context_hash");
  info_.mutable_shape()->set_vocab(kVocab);
  info_.set_state_budget_bytes(budget_bytes);
}

absl::StatusOr<std::unique_ptr<Session>> ContextHashEngine::NewSession() const {
  return std::make_unique<ContextHashSession>(&pool_);
}

absl::Status ContextHashEngine::Step(absl::Span<Session* const> sessions,
                                     absl::Span<const int32_t> tokens,
                                     float* logits) const {
  int64_t used = pool_.used_bytes();
  int64_t seen = max_used_bytes_.load();
  while (used > seen && !max_used_bytes_.compare_exchange_weak(seen, used)) {
  }
  absl::flat_hash_set<const Session*> distinct(sessions.begin(),
                                               sessions.end());
  if (distinct.size() != sessions.size()) {
    return absl::FailedPreconditionError("a session appears twice in a step");
  }
  for (size_t b = 0; b < sessions.size(); ++b) {
    auto* s = static_cast<ContextHashSession*>(sessions[b]);
    if (!s->CanTakeOne()) {
      return absl::FailedPreconditionError(
          absl::StrCat("session stepped at context ", s->context_tokens(),
                       " without Reserve"));
    }
    s->Append(tokens[b]);
    if (logits == nullptr) continue;
    float* row = logits + b * kVocab;
    std::fill(row, row + kVocab, 0.0f);
    row[s->Hash() % kVocab] = 1.0f;
  }
  return absl::OkStatus();
}

StepCost ContextHashEngine::NextStepCost(const Session& session) const {
  return {.flops = session.context_tokens() + 1,
          .bytes = session.state_bytes()};
}

}  // namespace trilemma::testing
