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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
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

// A Generate call's turn. Requires a non-empty prompt.
absl::StatusOr<TurnRequest> TurnFromGenerateRequest(
    const v1::GenerateRequest& request, const v1::EngineInfo& engine);

// A Session `append` turn. Requires non-empty tokens.
absl::StatusOr<TurnRequest> TurnFromAppend(const v1::AppendTokens& append,
                                           const v1::EngineInfo& engine);

// A Session `generate` turn (its prompt may be empty).
absl::StatusOr<TurnRequest> TurnFromGenerateTurn(const v1::GenerateTurn& turn,
                                                 const v1::EngineInfo& engine);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_VALIDATION_H_
