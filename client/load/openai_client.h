// A minimal client of an OpenAI-compatible completions server (ours on
// --http_listen, or vLLM, llama.cpp's server, TGI...): lists the models and
// streams one completion, timing every chunk (docs/http.md).
//
// Example:
//   absl::StatusOr<OpenAiTarget> target =
//       ParseOpenAiTarget("http://127.0.0.1:8000", "");
//   OpenAiConnection connection(*target);
//   OpenAiCompletion c = connection.Complete(
//       {.model = "attention", .token_prompt = {3, 4100, 3}, .max_tokens = 1},
//       nullptr);
//   // c.status, c.text == "4100", c.chunk_seconds[0] is the TTFT
//
// One OpenAiConnection per thread (it keeps one keep-alive connection).
#ifndef TRILEMMA_CLIENT_LOAD_OPENAI_CLIENT_H_
#define TRILEMMA_CLIENT_LOAD_OPENAI_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace httplib {
class Client;
}

namespace trilemma::client {

struct OpenAiTarget {
  // "http://HOST:PORT" or "https://HOST:PORT" (no path).
  std::string base_url;
  // Sent as "Authorization: Bearer <api_key>" when non-empty.
  std::string api_key;
  absl::Duration timeout = absl::Minutes(10);
};

// INVALID_ARGUMENT naming --target unless `target` is http(s)://HOST:PORT
// (a trailing "/" or "/v1" is accepted and dropped).
absl::StatusOr<OpenAiTarget> ParseOpenAiTarget(absl::string_view target,
                                               std::string api_key);

struct OpenAiRequest {
  std::string model;
  // Exactly one of the two.
  std::optional<std::string> text_prompt;
  std::vector<int32_t> token_prompt;
  int32_t max_tokens = 16;
  // Greedy by default: recall is scored on the argmax answer.
  double temperature = 0;
  uint64_t seed = 0;
};

struct OpenAiCompletion {
  // From the HTTP status (429 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE...)
  // or the transport; OK on 200 with a complete stream.
  absl::Status status;
  std::string text;
  // Seconds from the request's send to each chunk that carried text.
  std::vector<double> chunk_seconds;
  double e2e_seconds = 0;
  // From `usage` (0 when the server sent none).
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // finish_reason; with our server's `trilemma` extension the engine's exact
  // reason (STATE_LIMIT...), else LENGTH for "length" and unspecified for
  // anything else.
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  // From the `trilemma` extension when present, else 0.
  int64_t flops = 0;
  int64_t peak_state_bytes = 0;
  int64_t state_bytes = 0;
};

// The absl code of an HTTP status.
absl::StatusCode CodeForHttpStatus(int http_status);

// Generated token IDs from a tokenizer-less engine's text ("17 42 9");
// nullopt when the text is anything else.
std::optional<std::vector<int32_t>> ParseTokenIdText(absl::string_view text);

class OpenAiConnection {
 public:
  explicit OpenAiConnection(const OpenAiTarget& target);
  ~OpenAiConnection();

  // GET /v1/models: one EngineInfo per model named in `models` (all when
  // empty), with the vocabulary from our server's `trilemma` extension, else
  // `vocab`. NOT_FOUND naming a model the server does not list.
  absl::StatusOr<std::vector<v1::EngineInfo>> Models(
      const std::vector<std::string>& models, int32_t vocab);

  // A streamed POST /v1/completions (stream_options.include_usage). Stops
  // early, CANCELLED, once *cancel becomes true (may be null).
  OpenAiCompletion Complete(const OpenAiRequest& request,
                            const std::atomic<bool>* cancel);

 private:
  OpenAiTarget target_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_OPENAI_CLIENT_H_
