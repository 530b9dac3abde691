#include "engines/engine.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {

absl::Status Engine::Prefill(Session* session, absl::Span<const int32_t> tokens,
                             float* logits) const {
  Session* batch[] = {session};
  for (size_t i = 0; i < tokens.size(); ++i) {
    // Only the last token's logits are wanted; the others skip the readout.
    float* out = i + 1 == tokens.size() ? logits : nullptr;
    absl::Status s = Step(batch, tokens.subspan(i, 1), out);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Session>> Engine::Fork(const Session&) const {
  return absl::UnimplementedError(
      absl::StrCat("engine '", info().name(), "' cannot fork sessions"));
}

StateBudget Engine::budget() const {
  const KvBlockPool& p = pool();
  return {.budget_bytes = p.budget_bytes(),
          .block_bytes = p.block_bytes(),
          .used_bytes = p.used_bytes(),
          .used_blocks = p.used_blocks(),
          .total_blocks = p.total_blocks()};
}

}  // namespace trilemma
