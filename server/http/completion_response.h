// The JSON a completion answers with (OpenAI's legacy completions API, plus
// our per-request cost in a `trilemma` extension object), the text of one
// choice with `stop` strings applied, and OpenAI-style error bodies with
// their HTTP status (docs/http.md).
//
// Example:
//   ChoiceText text({"\n"});
//   text.Append("17 42");              // false: no stop string yet
//   std::string now = text.Take(/*final=*/false);
//   nlohmann::json chunk = StreamChunk(meta, 0, now, std::nullopt);
//
// Thread-compatible.
#ifndef TRILEMMA_SERVER_HTTP_COMPLETION_RESPONSE_H_
#define TRILEMMA_SERVER_HTTP_COMPLETION_RESPONSE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

// One choice's generated text. Pieces are appended as tokens arrive; once
// the text contains a stop string it is cut before it and nothing more is
// taken. Take() hands out text that can no longer turn into a stop string.
class ChoiceText {
 public:
  explicit ChoiceText(std::vector<std::string> stop);

  // Appends `piece`; true when a stop string is now complete (the text is
  // cut before its first occurrence).
  bool Append(absl::string_view piece);
  bool stopped() const { return stopped_; }
  // Text not taken yet that is safe to send: all of it when `final` or
  // stopped, else all but what could be the start of a stop string.
  std::string Take(bool final);
  const std::string& text() const { return text_; }

 private:
  std::vector<std::string> stop_;
  size_t longest_stop_ = 0;
  std::string text_;
  size_t taken_ = 0;
  size_t searched_ = 0;  // stop strings do not start before this
  bool stopped_ = false;
};

// The text of token `token`, the `index`-th of a choice, for an engine
// without a tokenizer: its decimal ID, after a space unless it is first.
std::string TokenIdPiece(int32_t token, int32_t index);

// What every response object repeats.
struct CompletionMeta {
  std::string id;  // "cmpl-..."
  int64_t created = 0;
  std::string model;
};

// One choice's end: the engine's summary and whether a stop string ended it.
struct ChoiceEnd {
  v1::Summary summary;
  bool stopped = false;
  int64_t completion_tokens = 0;
};

// OpenAI's finish_reason: "stop" for a stop string, "length" for
// max_tokens and for the state and context limits (the extension field says
// which).
std::string FinishReason(const ChoiceEnd& end);

// {"prompt_tokens", "completion_tokens", "total_tokens"} over `ends`.
nlohmann::json Usage(const std::vector<ChoiceEnd>& ends);
// The `trilemma` extension: per choice state bytes (final, peak, external),
// FLOPs, context tokens, TTFT, queue time and the finish detail, and totals.
nlohmann::json CostExtension(const std::vector<ChoiceEnd>& ends);

// A whole non-streamed response.
nlohmann::json CompletionBody(const CompletionMeta& meta,
                              const std::vector<std::string>& texts,
                              const std::vector<ChoiceEnd>& ends);
// One SSE chunk of choice `index`: `text`, and the finish reason on its last
// chunk.
nlohmann::json StreamChunk(const CompletionMeta& meta, int index,
                           const std::string& text,
                           const std::optional<std::string>& finish_reason);
// The last chunk with stream_options.include_usage: no choices, the usage
// and the extension.
nlohmann::json UsageChunk(const CompletionMeta& meta,
                          const std::vector<ChoiceEnd>& ends);

// An error reply: its HTTP status and OpenAI-style body
// {"error": {"message", "type", "param", "code"}}.
struct HttpError {
  int http_status = 500;
  nlohmann::json body;
  // The Retry-After header's seconds, when the refusal knows them.
  std::optional<int64_t> retry_after_seconds;
};
// INVALID_ARGUMENT -> 400 (param: the field the message names), NOT_FOUND
// -> 404, RESOURCE_EXHAUSTED -> 429 (retry later; a per-client quota's
// refusal has the quota's name as `code` and, for tokens per second, a
// Retry-After rounded up to whole seconds), FAILED_PRECONDITION and
// OUT_OF_RANGE -> 400 (a request over a limit it can never fit),
// UNAUTHENTICATED -> 401, UNAVAILABLE -> 503, DEADLINE_EXCEEDED -> 504,
// else 500.
HttpError HttpErrorFor(const absl::Status& status);
// An error with an explicit HTTP status (e.g. 413 for a body too large).
HttpError MakeHttpError(int http_status, absl::string_view type,
                        absl::string_view message, absl::string_view param,
                        absl::string_view code);

// "data: <json>\n\n".
std::string SseData(const nlohmann::json& value);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_HTTP_COMPLETION_RESPONSE_H_
