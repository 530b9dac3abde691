#include "server/http/completion_request.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace trilemma {
namespace {

using nlohmann::json;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

const char* TypeName(const json& value) { return value.type_name(); }

// A token-ID array: every element an integer in [0, 2^31).
absl::StatusOr<std::vector<int32_t>> TokenArray(const json& array,
                                                const std::string& field) {
  std::vector<int32_t> tokens;
  tokens.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& token = array[i];
    const std::string at = absl::StrCat(field, "[", i, "]");
    if (token.is_number_unsigned()) {
      const uint64_t id = token.get<uint64_t>();
      if (id > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        return Invalid(at, absl::StrCat("token ID ", id, " is too large"));
      }
      tokens.push_back(static_cast<int32_t>(id));
    } else if (token.is_number_integer()) {
      return Invalid(
          at, absl::StrCat("token ID ", token.get<int64_t>(), " is negative"));
    } else {
      return Invalid(at, absl::StrCat("a token ID must be an integer, got ",
                                      TypeName(token)));
    }
  }
  if (tokens.empty()) return Invalid(field, "empty prompt");
  return tokens;
}

absl::StatusOr<CompletionPrompt> OnePrompt(const json& value,
                                           const std::string& field) {
  CompletionPrompt prompt;
  if (value.is_string()) {
    prompt.text = value.get<std::string>();
    if (prompt.text->empty()) return Invalid(field, "empty prompt");
    return prompt;
  }
  if (value.is_array()) {
    absl::StatusOr<std::vector<int32_t>> tokens = TokenArray(value, field);
    if (!tokens.ok()) return tokens.status();
    prompt.tokens = *std::move(tokens);
    return prompt;
  }
  return Invalid(field, absl::StrCat("must be a string or an array of token "
                                     "IDs, got ",
                                     TypeName(value)));
}

absl::Status ParsePrompts(const json& prompt, CompletionRequest* request) {
  if (prompt.is_string()) {
    absl::StatusOr<CompletionPrompt> one = OnePrompt(prompt, "prompt");
    if (!one.ok()) return one.status();
    request->prompts.push_back(*std::move(one));
    return absl::OkStatus();
  }
  if (!prompt.is_array()) {
    return Invalid("prompt", absl::StrCat("must be a string, an array of "
                                          "token IDs or a list of either, "
                                          "got ",
                                          TypeName(prompt)));
  }
  if (prompt.empty()) return Invalid("prompt", "empty prompt");
  // A list of prompts when its first element is a string or an array; a
  // single token-ID prompt otherwise.
  if (!prompt[0].is_string() && !prompt[0].is_array()) {
    absl::StatusOr<CompletionPrompt> one = OnePrompt(prompt, "prompt");
    if (!one.ok()) return one.status();
    request->prompts.push_back(*std::move(one));
    return absl::OkStatus();
  }
  if (prompt.size() > kMaxPromptsPerRequest) {
    return Invalid("prompt",
                   absl::StrCat("at most ", kMaxPromptsPerRequest,
                                " prompts per request, got ", prompt.size()));
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    absl::StatusOr<CompletionPrompt> one =
        OnePrompt(prompt[i], absl::StrCat("prompt[", i, "]"));
    if (!one.ok()) return one.status();
    request->prompts.push_back(*std::move(one));
  }
  return absl::OkStatus();
}

// A number field in [low, high]; absent or null keeps *out.
absl::Status NumberField(const json& body, const char* field, double low,
                         double high, double* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) {
    return Invalid(field,
                   absl::StrCat("must be a number, got ", TypeName(*it)));
  }
  const double value = it->get<double>();
  if (!std::isfinite(value) || value < low || value > high) {
    return Invalid(
        field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

// An integer field in [low, high]; absent or null keeps *out.
absl::Status IntegerField(const json& body, const char* field, int64_t low,
                          int64_t high, int64_t* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Invalid(field, absl::StrCat("must be in [", low, ", ", high,
                                       "], got ", it->get<uint64_t>()));
  }
  if (!it->is_number_integer()) {
    return Invalid(field,
                   absl::StrCat("must be an integer, got ", TypeName(*it)));
  }
  const int64_t value = it->get<int64_t>();
  if (value < low || value > high) {
    return Invalid(
        field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status BoolField(const json& body, const char* field, bool* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) {
    return Invalid(field,
                   absl::StrCat("must be a boolean, got ", TypeName(*it)));
  }
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ParseStop(const json& body, CompletionRequest* request) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  std::vector<const json*> values;
  if (it->is_string()) {
    values.push_back(&*it);
  } else if (it->is_array()) {
    if (it->size() > kMaxStopStrings) {
      return Invalid("stop", absl::StrCat("at most ", kMaxStopStrings,
                                          " strings, got ", it->size()));
    }
    for (const json& value : *it) values.push_back(&value);
  } else {
    return Invalid("stop", absl::StrCat("must be a string or an array of "
                                        "strings, got ",
                                        TypeName(*it)));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string field = absl::StrCat("stop[", i, "]");
    if (!values[i]->is_string()) {
      return Invalid(
          field, absl::StrCat("must be a string, got ", TypeName(*values[i])));
    }
    std::string stop = values[i]->get<std::string>();
    if (stop.empty() || stop.size() > kMaxStopBytes) {
      return Invalid(field, absl::StrCat("must be 1 to ", kMaxStopBytes,
                                         " bytes long, got ", stop.size()));
    }
    request->stop.push_back(std::move(stop));
  }
  return absl::OkStatus();
}

// Fields we do not implement: refused unless they ask for the default.
absl::Status RefuseUnsupported(const json& body) {
  int64_t n = 1;
  if (absl::Status s = IntegerField(body, "n", 1, 1, &n); !s.ok()) return s;
  int64_t best_of = 1;
  if (absl::Status s = IntegerField(body, "best_of", 1, 1, &best_of); !s.ok()) {
    return s;
  }
  bool echo = false;
  if (absl::Status s = BoolField(body, "echo", &echo); !s.ok()) return s;
  if (echo) return Invalid("echo", "not supported");
  if (auto it = body.find("logprobs"); it != body.end() && !it->is_null()) {
    return Invalid("logprobs", "not supported");
  }
  if (auto it = body.find("suffix"); it != body.end() && !it->is_null()) {
    return Invalid("suffix", "not supported");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(
    absl::string_view body) {
  const json parsed = json::parse(body.begin(), body.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Invalid("body", "not valid JSON");
  }
  if (!parsed.is_object()) {
    return Invalid(
        "body", absl::StrCat("must be a JSON object, got ", TypeName(parsed)));
  }
  CompletionRequest request;
  auto model = parsed.find("model");
  if (model == parsed.end() || !model->is_string() ||
      model->get<std::string>().empty()) {
    return Invalid("model", "required: the name of a hosted engine");
  }
  request.model = model->get<std::string>();
  auto prompt = parsed.find("prompt");
  if (prompt == parsed.end() || prompt->is_null()) {
    return Invalid("prompt", "required");
  }
  if (absl::Status s = ParsePrompts(*prompt, &request); !s.ok()) return s;
  if (absl::Status s = RefuseUnsupported(parsed); !s.ok()) return s;

  int64_t max_tokens = request.max_tokens;
  if (absl::Status s =
          IntegerField(parsed, "max_tokens", 1, 65536, &max_tokens);
      !s.ok()) {
    return s;
  }
  request.max_tokens = static_cast<int32_t>(max_tokens);
  double temperature = 1.0;
  if (absl::Status s = NumberField(parsed, "temperature", 0, 2, &temperature);
      !s.ok()) {
    return s;
  }
  request.sampling.set_temperature(static_cast<float>(temperature));
  double top_p = 1.0;
  if (absl::Status s = NumberField(parsed, "top_p", 0, 1, &top_p); !s.ok()) {
    return s;
  }
  if (top_p == 0.0) return Invalid("top_p", "must be in (0, 1], got 0");
  request.sampling.set_top_p(static_cast<float>(top_p));
  int64_t seed = 0;
  if (absl::Status s =
          IntegerField(parsed, "seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), &seed);
      !s.ok()) {
    return s;
  }
  request.sampling.set_seed(static_cast<uint64_t>(seed));
  if (absl::Status s = ParseStop(parsed, &request); !s.ok()) return s;
  if (absl::Status s = BoolField(parsed, "stream", &request.stream); !s.ok()) {
    return s;
  }
  if (auto options = parsed.find("stream_options");
      options != parsed.end() && !options->is_null()) {
    if (!options->is_object()) {
      return Invalid("stream_options", "must be an object");
    }
    if (!request.stream) {
      return Invalid("stream_options", "only allowed with stream: true");
    }
    if (absl::Status s =
            BoolField(*options, "include_usage", &request.include_usage);
        !s.ok()) {
      return Invalid("stream_options.include_usage", "must be a boolean");
    }
  }
  int64_t max_state_bytes = 0;
  int64_t max_context_tokens = 0;
  if (absl::Status s =
          IntegerField(parsed, "max_state_bytes", 0,
                       std::numeric_limits<int64_t>::max(), &max_state_bytes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = IntegerField(parsed, "max_context_tokens", 0,
                                    std::numeric_limits<int64_t>::max(),
                                    &max_context_tokens);
      !s.ok()) {
    return s;
  }
  request.limits.set_max_state_bytes(max_state_bytes);
  request.limits.set_max_context_tokens(max_context_tokens);
  return request;
}

std::string FieldOfMessage(absl::string_view message) {
  const size_t end = message.find_first_of(": ");
  if (end == absl::string_view::npos || end == 0 || message[end] == ' ') {
    return "";
  }
  return std::string(message.substr(0, end));
}

}  // namespace trilemma
