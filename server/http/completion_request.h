// CompletionRequest: a POST /v1/completions body (OpenAI's legacy
// completions API) parsed and checked field by field, before any engine is
// looked up (docs/http.md lists the fields and their errors).
//
// Example:
//   absl::StatusOr<CompletionRequest> request = ParseCompletionRequest(body);
//   if (!request.ok()) return Reply(HttpErrorFor(request.status()));
//   for (const CompletionPrompt& prompt : request->prompts) ...
//
// Every error is INVALID_ARGUMENT whose message starts with the offending
// field ("max_tokens: must be in [1, 65536], got 0"); the HTTP layer answers
// it with 400 and the field as the error's `param`.
//
// Thread-safe (pure functions).
#ifndef TRILEMMA_SERVER_HTTP_COMPLETION_REQUEST_H_
#define TRILEMMA_SERVER_HTTP_COMPLETION_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

// Prompts one request may carry (`prompt` as a list).
inline constexpr size_t kMaxPromptsPerRequest = 64;
// Stop strings one request may carry, and their length (OpenAI allows 4).
inline constexpr size_t kMaxStopStrings = 4;
inline constexpr size_t kMaxStopBytes = 256;

// One prompt: text (for an engine with a tokenizer) or token IDs.
struct CompletionPrompt {
  std::optional<std::string> text;
  std::vector<int32_t> tokens;
};

struct CompletionRequest {
  // `model`: the hosted engine's name.
  std::string model;
  // One choice per prompt, in order (index i answers prompts[i]).
  std::vector<CompletionPrompt> prompts;
  // `max_tokens` (default 16, as OpenAI's).
  int32_t max_tokens = 16;
  // `temperature` (default 1, as OpenAI's; 0 = greedy), `top_p` (0 < p <= 1,
  // default 1) and `seed`.
  v1::Sampling sampling;
  // `stop`: generation of a choice ends before the first occurrence of any
  // of these in its text (finish_reason "stop").
  std::vector<std::string> stop;
  bool stream = false;
  // `stream_options.include_usage`: a last chunk with `usage` and no
  // choices.
  bool include_usage = false;
  // Extension fields `max_state_bytes` / `max_context_tokens` (>= 0).
  v1::Limits limits;
};

// Parses and checks `body` (JSON). Unknown fields are ignored, as OpenAI
// servers do; fields we cannot honour (n != 1, best_of != 1, echo, logprobs,
// suffix) are refused, naming the field.
absl::StatusOr<CompletionRequest> ParseCompletionRequest(
    absl::string_view body);

// The field an INVALID_ARGUMENT message names (its text before the first
// ':', e.g. "prompt[2][0]"), for the error's `param`; empty when the message
// names none.
std::string FieldOfMessage(absl::string_view message);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_HTTP_COMPLETION_REQUEST_H_
