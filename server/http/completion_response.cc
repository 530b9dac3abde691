#include "server/http/completion_response.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/http/completion_request.h"
#include "server/quota.h"

namespace trilemma {

using nlohmann::json;

ChoiceText::ChoiceText(std::vector<std::string> stop) : stop_(std::move(stop)) {
  for (const std::string& s : stop_) {
    longest_stop_ = std::max(longest_stop_, s.size());
  }
}

bool ChoiceText::Append(absl::string_view piece) {
  if (stopped_) return true;
  text_.append(piece.data(), piece.size());
  size_t first = std::string::npos;
  for (const std::string& s : stop_) {
    const size_t at = text_.find(s, searched_);
    if (at != std::string::npos) first = std::min(first, at);
  }
  if (first != std::string::npos) {
    text_.resize(first);
    taken_ = std::min(taken_, text_.size());
    stopped_ = true;
    return true;
  }
  // A stop string found later starts no earlier than this.
  if (longest_stop_ > 0 && text_.size() + 1 > longest_stop_) {
    searched_ = text_.size() + 1 - longest_stop_;
  }
  return false;
}

std::string ChoiceText::Take(bool final) {
  size_t end = text_.size();
  if (!final && !stopped_ && longest_stop_ > 0) {
    end = text_.size() >= longest_stop_ - 1 ? text_.size() - (longest_stop_ - 1)
                                            : 0;
  }
  if (end <= taken_) return "";
  std::string out = text_.substr(taken_, end - taken_);
  taken_ = end;
  return out;
}

std::string TokenIdPiece(int32_t token, int32_t index) {
  return index == 0 ? absl::StrCat(token) : absl::StrCat(" ", token);
}

std::string FinishReason(const ChoiceEnd& end) {
  if (end.stopped) return "stop";
  return "length";
}

json Usage(const std::vector<ChoiceEnd>& ends) {
  int64_t prompt = 0;
  int64_t completion = 0;
  for (const ChoiceEnd& end : ends) {
    prompt += end.summary.prompt_tokens();
    completion += end.completion_tokens;
  }
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion}};
}

json CostExtension(const std::vector<ChoiceEnd>& ends) {
  json choices = json::array();
  int64_t flops = 0;
  int64_t peak = 0;
  for (const ChoiceEnd& end : ends) {
    const v1::Summary& s = end.summary;
    flops += s.total_flops();
    peak = std::max(peak, s.peak_state_bytes());
    choices.push_back(
        {{"finish_reason", v1::FinishReason_Name(s.finish_reason())},
         {"detail", s.detail()},
         {"state_bytes", s.state_bytes()},
         {"external_state_bytes", s.external_state_bytes()},
         {"peak_state_bytes", s.peak_state_bytes()},
         {"flops", s.total_flops()},
         {"context_tokens", s.context_tokens()},
         {"ttft_seconds", s.ttft_seconds()},
         {"queue_seconds", s.queue_seconds()},
         {"total_seconds", s.total_seconds()},
         {"preemptions", s.preemptions()}});
  }
  return json{{"flops", flops},
              {"peak_state_bytes", peak},
              {"choices", std::move(choices)}};
}

namespace {

json Envelope(const CompletionMeta& meta) {
  return json{{"id", meta.id},
              {"object", "text_completion"},
              {"created", meta.created},
              {"model", meta.model}};
}

}  // namespace

json CompletionBody(const CompletionMeta& meta,
                    const std::vector<std::string>& texts,
                    const std::vector<ChoiceEnd>& ends) {
  json body = Envelope(meta);
  json choices = json::array();
  for (size_t i = 0; i < ends.size(); ++i) {
    choices.push_back({{"text", texts[i]},
                       {"index", i},
                       {"logprobs", nullptr},
                       {"finish_reason", FinishReason(ends[i])}});
  }
  body["choices"] = std::move(choices);
  body["usage"] = Usage(ends);
  body["trilemma"] = CostExtension(ends);
  return body;
}

json StreamChunk(const CompletionMeta& meta, int index, const std::string& text,
                 const std::optional<std::string>& finish_reason) {
  json body = Envelope(meta);
  json choice = {{"text", text}, {"index", index}, {"logprobs", nullptr}};
  choice["finish_reason"] =
      finish_reason.has_value() ? json(*finish_reason) : json(nullptr);
  body["choices"] = json::array({std::move(choice)});
  return body;
}

json UsageChunk(const CompletionMeta& meta,
                const std::vector<ChoiceEnd>& ends) {
  json body = Envelope(meta);
  body["choices"] = json::array();
  body["usage"] = Usage(ends);
  body["trilemma"] = CostExtension(ends);
  return body;
}

HttpError MakeHttpError(int http_status, absl::string_view type,
                        absl::string_view message, absl::string_view param,
                        absl::string_view code) {
  json error = {{"message", std::string(message)}, {"type", std::string(type)}};
  error["param"] = param.empty() ? json(nullptr) : json(std::string(param));
  error["code"] = code.empty() ? json(nullptr) : json(std::string(code));
  return HttpError{http_status, json{{"error", std::move(error)}},
                   std::nullopt};
}

HttpError HttpErrorFor(const absl::Status& status) {
  const absl::string_view message = status.message();
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return MakeHttpError(400, "invalid_request_error", message,
                           FieldOfMessage(message), "invalid_value");
    case absl::StatusCode::kNotFound:
      return MakeHttpError(404, "invalid_request_error", message, "model",
                           "model_not_found");
    case absl::StatusCode::kResourceExhausted: {
      const absl::string_view quota = QuotaOfStatus(status);
      HttpError error = MakeHttpError(429, "rate_limit_error", message, "",
                                      quota.empty() ? "retry_later" : quota);
      if (std::optional<double> wait = RetryAfterSecondsOfStatus(status)) {
        error.retry_after_seconds =
            std::max<int64_t>(1, static_cast<int64_t>(std::ceil(*wait)));
      }
      return error;
    }
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return MakeHttpError(400, "invalid_request_error", message, "",
                           "limit_exceeded");
    case absl::StatusCode::kUnauthenticated:
      return MakeHttpError(401, "authentication_error", message, "",
                           "invalid_api_key");
    case absl::StatusCode::kUnavailable:
      return MakeHttpError(503, "server_error", message, "", "unavailable");
    case absl::StatusCode::kDeadlineExceeded:
      return MakeHttpError(504, "server_error", message, "", "timeout");
    default:
      return MakeHttpError(500, "server_error", message, "", "");
  }
}

std::string SseData(const json& value) {
  return absl::StrCat("data: ", value.dump(), "\n\n");
}

}  // namespace trilemma
