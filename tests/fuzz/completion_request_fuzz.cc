// Fuzz target: bytes -> a POST /v1/completions body -> ParseCompletionRequest
// (server/http/completion_request.h) -> the error reply or the request's
// invariants. Traps when a parsed request breaks what the HTTP handler relies
// on (a prompt that is empty or has neither text nor tokens, more prompts or
// stop strings than the caps, max_tokens out of range, a negative limit) or
// when an error is not a 400 naming a field, and exercises the reply
// builders (ChoiceText with the stop strings, the JSON dumps) on it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/http/completion_request.h"
#include "server/http/completion_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trilemma::CompletionRequest;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CompletionRequest> request =
      trilemma::ParseCompletionRequest(body);
  if (!request.ok()) {
    if (request.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    const trilemma::HttpError error = trilemma::HttpErrorFor(request.status());
    if (error.http_status != 400) __builtin_trap();
    if (trilemma::FieldOfMessage(request.status().message()).empty()) {
      __builtin_trap();  // every refusal names its field
    }
    (void)error.body.dump(-1, ' ', false,
                          nlohmann::json::error_handler_t::replace);
    return 0;
  }
  if (request->model.empty() || request->prompts.empty() ||
      request->prompts.size() > trilemma::kMaxPromptsPerRequest ||
      request->max_tokens < 1 || request->max_tokens > 65536 ||
      request->stop.size() > trilemma::kMaxStopStrings ||
      request->limits.max_state_bytes() < 0 ||
      request->limits.max_context_tokens() < 0 ||
      !(request->sampling.temperature() >= 0.0f) ||
      (request->include_usage && !request->stream)) {
    __builtin_trap();
  }
  for (const trilemma::CompletionPrompt& prompt : request->prompts) {
    if (prompt.text.has_value() ? prompt.text->empty()
                                : prompt.tokens.empty()) {
      __builtin_trap();
    }
    for (int32_t token : prompt.tokens) {
      if (token < 0) __builtin_trap();
    }
  }
  // The reply path: stop strings over the model name as generated text.
  trilemma::ChoiceText text(request->stop);
  std::string taken;
  for (char c : request->model) {
    if (text.Append(absl::string_view(&c, 1))) break;
    taken += text.Take(/*final=*/false);
  }
  taken += text.Take(/*final=*/true);
  if (taken != text.text()) __builtin_trap();
  for (const std::string& stop : request->stop) {
    if (text.text().find(stop) != std::string::npos) __builtin_trap();
  }
  trilemma::CompletionMeta meta{"cmpl-fuzz", 0, request->model};
  (void)trilemma::SseData(trilemma::StreamChunk(meta, 0, taken, "stop"));
  return 0;
}
