#include "engines/engine.h"

#include <vector>

#include "absl/strings/str_cat.h"

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

}  // namespace trilemma
