#include "client/load/openai_client.h"

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace trilemma::client {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

httplib::Headers AuthHeaders(const OpenAiTarget& target) {
  httplib::Headers headers;
  if (!target.api_key.empty()) {
    headers.emplace("Authorization", absl::StrCat("Bearer ", target.api_key));
  }
  return headers;
}

// The message of an OpenAI-style error body, or the body itself.
std::string ErrorMessage(int http_status, const std::string& body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("error") &&
      parsed["error"].is_object() && parsed["error"].contains("message") &&
      parsed["error"]["message"].is_string()) {
    return absl::StrCat("HTTP ", http_status, ": ",
                        parsed["error"]["message"].get<std::string>());
  }
  return absl::StrCat("HTTP ", http_status, ": ", body.substr(0, 200));
}

int64_t IntOr(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

absl::StatusCode CodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 200:
      return absl::StatusCode::kOk;
    case 400:
    case 413:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return http_status >= 500 ? absl::StatusCode::kInternal
                                : absl::StatusCode::kUnknown;
  }
}

std::optional<std::vector<int32_t>> ParseTokenIdText(absl::string_view text) {
  std::vector<int32_t> ids;
  for (absl::string_view piece : absl::StrSplit(text, ' ')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(piece, &id) || id < 0) return std::nullopt;
    ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<OpenAiTarget> ParseOpenAiTarget(absl::string_view target,
                                               std::string api_key) {
  absl::string_view rest = target;
  if (!absl::ConsumePrefix(&rest, "http://") &&
      !absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target: with --api=openai give http://HOST:PORT or "
                     "https://HOST:PORT, got '",
                     target, "'"));
  }
  absl::string_view base = target.substr(0, target.size() - rest.size());
  absl::ConsumeSuffix(&rest, "/");
  absl::ConsumeSuffix(&rest, "/v1");
  if (rest.empty() || absl::StrContains(rest, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--target: expected http(s)://HOST:PORT, got '", target, "'"));
  }
  OpenAiTarget parsed;
  parsed.base_url = absl::StrCat(base, rest);
  parsed.api_key = std::move(api_key);
  return parsed;
}

OpenAiConnection::OpenAiConnection(const OpenAiTarget& target)
    : target_(target),
      client_(std::make_unique<httplib::Client>(target.base_url)) {
  const time_t seconds = static_cast<time_t>(
      std::max<int64_t>(1, absl::ToInt64Seconds(target.timeout)));
  client_->set_connection_timeout(10);
  client_->set_read_timeout(seconds);
  client_->set_write_timeout(seconds);
  client_->set_keep_alive(true);
  client_->set_tcp_nodelay(true);
  client_->set_default_headers(AuthHeaders(target));
}

OpenAiConnection::~OpenAiConnection() = default;

absl::StatusOr<std::vector<v1::EngineInfo>> OpenAiConnection::Models(
    const std::vector<std::string>& models, int32_t vocab) {
  httplib::Result result = client_->Get("/v1/models");
  if (!result) {
    return absl::UnavailableError(absl::StrCat(
        target_.base_url, "/v1/models: ", httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::Status(CodeForHttpStatus(result->status),
                        ErrorMessage(result->status, result->body));
  }
  const json body = json::parse(result->body, nullptr, false);
  if (!body.is_object() || !body.contains("data") || !body["data"].is_array()) {
    return absl::InternalError(
        absl::StrCat(target_.base_url, "/v1/models: no `data` list"));
  }
  std::vector<v1::EngineInfo> listed;
  for (const json& model : body["data"]) {
    if (!model.is_object() || !model.contains("id") ||
        !model["id"].is_string()) {
      continue;
    }
    v1::EngineInfo info;
    info.set_name(model["id"].get<std::string>());
    info.set_family("openai");
    int32_t model_vocab = vocab;
    if (model.contains("trilemma") && model["trilemma"].is_object()) {
      const int64_t ours = IntOr(model["trilemma"], "vocab");
      if (vocab == 0 && ours > 0) model_vocab = static_cast<int32_t>(ours);
    }
    info.mutable_shape()->set_vocab(model_vocab);
    listed.push_back(std::move(info));
  }
  if (models.empty()) return listed;
  std::vector<v1::EngineInfo> chosen;
  for (const std::string& name : models) {
    auto it =
        std::find_if(listed.begin(), listed.end(),
                     [&](const v1::EngineInfo& e) { return e.name() == name; });
    if (it == listed.end()) {
      return absl::NotFoundError(absl::StrCat("--model: '", name,
                                              "' is not listed by ",
                                              target_.base_url, "/v1/models"));
    }
    chosen.push_back(*it);
  }
  return chosen;
}

OpenAiCompletion OpenAiConnection::Complete(const OpenAiRequest& request,
                                            const std::atomic<bool>* cancel) {
  json body = {{"model", request.model},
               {"max_tokens", request.max_tokens},
               {"temperature", request.temperature},
               {"seed", request.seed},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (request.text_prompt.has_value()) {
    body["prompt"] = *request.text_prompt;
  } else {
    body["prompt"] = request.token_prompt;
  }
  OpenAiCompletion out;
  std::string buffer;  // SSE bytes not parsed yet
  std::string error_body;
  bool done = false;
  int http_status = 0;
  const Clock::time_point start = Clock::now();
  auto seconds = [start] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  // One SSE event's data: a chunk, [DONE], or an error object.
  auto on_data = [&](absl::string_view data) {
    if (data == "[DONE]") {
      done = true;
      return;
    }
    const json chunk = json::parse(data, nullptr, false);
    if (!chunk.is_object()) return;
    if (chunk.contains("error")) {
      out.status = absl::Status(
          absl::StatusCode::kInternal,
          absl::StrCat("error in stream: ",
                       chunk["error"].value("message", std::string("?"))));
      return;
    }
    if (chunk.contains("choices") && chunk["choices"].is_array()) {
      for (const json& choice : chunk["choices"]) {
        if (!choice.is_object()) continue;
        if (choice.contains("text") && choice["text"].is_string()) {
          const std::string text = choice["text"].get<std::string>();
          if (!text.empty()) {
            out.text += text;
            out.chunk_seconds.push_back(seconds());
          }
        }
        if (choice.contains("finish_reason") &&
            choice["finish_reason"].is_string()) {
          out.finish_reason = choice["finish_reason"] == "length"
                                  ? v1::LENGTH
                                  : v1::FINISH_REASON_UNSPECIFIED;
        }
      }
    }
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      out.prompt_tokens = IntOr(chunk["usage"], "prompt_tokens");
      out.completion_tokens = IntOr(chunk["usage"], "completion_tokens");
    }
    if (chunk.contains("trilemma") && chunk["trilemma"].is_object()) {
      const json& ext = chunk["trilemma"];
      out.flops = IntOr(ext, "flops");
      out.peak_state_bytes = IntOr(ext, "peak_state_bytes");
      if (ext.contains("choices") && ext["choices"].is_array() &&
          !ext["choices"].empty() && ext["choices"][0].is_object()) {
        const json& first = ext["choices"][0];
        out.state_bytes = IntOr(first, "state_bytes");
        v1::FinishReason reason;
        if (first.contains("finish_reason") &&
            first["finish_reason"].is_string() &&
            v1::FinishReason_Parse(first["finish_reason"].get<std::string>(),
                                   &reason)) {
          out.finish_reason = reason;
        }
      }
    }
  };

  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = AuthHeaders(target_);
  req.headers.emplace("Accept", "text/event-stream");
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& response) {
    http_status = response.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t,
                             uint64_t) {
    if (cancel != nullptr && cancel->load()) return false;
    if (http_status != 200) {
      error_body.append(data, std::min<size_t>(size, 4096));
      return true;
    }
    buffer.append(data, size);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      for (absl::string_view line :
           absl::StrSplit(absl::string_view(buffer).substr(0, end), '\n')) {
        absl::ConsumeSuffix(&line, "\r");
        if (absl::ConsumePrefix(&line, "data:")) {
          on_data(absl::StripLeadingAsciiWhitespace(line));
        }
      }
      buffer.erase(0, end + 2);
    }
    return true;
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client_->send(req, response, error);
  out.e2e_seconds = seconds();
  if (cancel != nullptr && cancel->load()) {
    out.status = absl::CancelledError("cancelled by the load's drain");
  } else if (!sent && http_status == 0) {
    out.status = absl::UnavailableError(absl::StrCat(
        target_.base_url, "/v1/completions: ", httplib::to_string(error)));
  } else if (http_status != 200) {
    out.status = absl::Status(CodeForHttpStatus(http_status),
                              ErrorMessage(http_status, error_body));
  } else if (out.status.ok() && !done) {
    out.status = absl::UnavailableError(
        "the stream ended before data: [DONE] (connection closed)");
  }
  return out;
}

}  // namespace trilemma::client
