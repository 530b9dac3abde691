#include "engines/engine.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/tokenizer/tokenizer.h"

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

v1::EngineInfo PublicEngineInfo(const Engine& engine) {
  v1::EngineInfo info = engine.info();
  if (const Tokenizer* tokenizer = engine.tokenizer(); tokenizer != nullptr) {
    v1::TokenizerInfo* out = info.mutable_tokenizer();
    out->set_kind(std::string(tokenizer->kind()));
    out->set_file(tokenizer->file());
    out->set_vocab_size(tokenizer->vocab_size());
    out->set_added_tokens(
        static_cast<int32_t>(tokenizer->added_tokens().size()));
  }
  return info;
}

}  // namespace trilemma
