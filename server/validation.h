// Request validation: turns wire requests into scheduler TurnRequests, or
// INVALID_ARGUMENT naming the offending field (e.g.
// "prompt[3]: token 9000 >= vocab 8192").
//
// Example:
//   absl::StatusOr<TurnRequest> turn =
//       TurnFromGenerateRequest(request, engine.info());
//   if (!turn.ok()) return Reject(turn.status());
//
// Thread-safe (pure functions).
#ifndef TRILEMMA_SERVER_VALIDATION_H_
#define TRILEMMA_SERVER_VALIDATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engines/engine.h"
#include "server/sequence.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

// The largest max_new_tokens a request may ask for.
inline constexpr int32_t kMaxNewTokensLimit = 65536;

// Every token in [0, vocab); `field` names the list ("prompt").
absl::Status ValidateTokens(absl::Span<const int32_t> tokens, int32_t vocab,
                            absl::string_view field);

// Both limits >= 0; `field` names the message ("limits").
absl::Status ValidateLimits(const v1::Limits& limits, absl::string_view field);

// The ids of a request that carries `ids` or `text` (exactly one of them
// when `required`, at most one otherwise): `text` is encoded with
// `tokenizer`. INVALID_ARGUMENT naming `text_field` when text is sent and
// `tokenizer` is null, when both are set, or when the text is not UTF-8;
// naming `ids_field` for an id outside [0, vocab).
absl::StatusOr<std::vector<int32_t>> PromptIds(
    absl::Span<const int32_t> ids, absl::string_view text, int32_t vocab,
    const Tokenizer* tokenizer, absl::string_view ids_field,
    absl::string_view text_field, bool required);

// A Generate call's turn. Requires a non-empty prompt (ids, or text when
// `tokenizer` is the engine's, non-null; docs/tokenizers.md).
absl::StatusOr<TurnRequest> TurnFromGenerateRequest(
    const v1::GenerateRequest& request, const v1::EngineInfo& engine,
    const Tokenizer* tokenizer = nullptr);

// A Session `append` turn. Requires non-empty tokens (or text).
absl::StatusOr<TurnRequest> TurnFromAppend(
    const v1::AppendTokens& append, const v1::EngineInfo& engine,
    const Tokenizer* tokenizer = nullptr);

// A Session `generate` turn (its prompt may be empty).
absl::StatusOr<TurnRequest> TurnFromGenerateTurn(
    const v1::GenerateTurn& turn, const v1::EngineInfo& engine,
    const Tokenizer* tokenizer = nullptr);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_VALIDATION_H_
