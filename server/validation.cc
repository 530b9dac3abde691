#include "server/validation.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/sampler.h"

namespace trilemma {
namespace {

absl::StatusOr<int32_t> MaxNewTokens(int32_t requested,
                                     absl::string_view field) {
  if (requested < 0 || requested > kMaxNewTokensLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be in [1, ", kMaxNewTokensLimit,
                     "] (0 means 1), got ", requested));
  }
  return requested == 0 ? 1 : requested;
}

// Fills the generation part shared by Generate calls and Session turns.
absl::Status FillGeneration(int32_t max_new_tokens,
                            const v1::Sampling& sampling, bool has_probe,
                            const v1::RecallProbe& probe, int32_t vocab,
                            absl::string_view prefix, TurnRequest* turn) {
  absl::StatusOr<int32_t> n =
      MaxNewTokens(max_new_tokens, absl::StrCat(prefix, "max_new_tokens"));
  if (!n.ok()) return n.status();
  turn->max_new_tokens = *n;
  if (absl::Status s =
          ValidateSampling(sampling, absl::StrCat(prefix, "sampling"));
      !s.ok()) {
    return s;
  }
  turn->sampling = sampling;
  if (has_probe) {
    const std::string field = absl::StrCat(prefix, "probe.expected");
    if (probe.expected().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": a recall probe needs expected tokens"));
    }
    if (probe.expected_size() > turn->max_new_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": ", probe.expected_size(),
          " expected tokens but only max_new_tokens = ", turn->max_new_tokens,
          " are generated"));
    }
    if (absl::Status s = ValidateTokens(probe.expected(), vocab, field);
        !s.ok()) {
      return s;
    }
    turn->probe = probe;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTokens(absl::Span<const int32_t> tokens, int32_t vocab,
                            absl::string_view field) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "]: token ", tokens[i],
          tokens[i] < 0 ? " < 0" : absl::StrCat(" >= vocab ", vocab)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLimits(const v1::Limits& limits, absl::string_view field) {
  if (limits.max_state_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ".max_state_bytes: must be >= 0 (0 = no limit), "
                     "got ",
                     limits.max_state_bytes()));
  }
  if (limits.max_context_tokens() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ".max_context_tokens: must be >= 0 (0 = no "
                     "limit), got ",
                     limits.max_context_tokens()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> PromptIds(
    absl::Span<const int32_t> ids, absl::string_view text, int32_t vocab,
    const Tokenizer* tokenizer, absl::string_view ids_field,
    absl::string_view text_field, bool required) {
  if (!text.empty()) {
    if (tokenizer == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          text_field,
          ": this engine has no tokenizer (EngineInfo.tokenizer is unset); "
          "send token ids in ",
          ids_field));
    }
    if (!ids.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(text_field, ": set either ", ids_field, " or ",
                       text_field, ", not both"));
    }
    if (absl::Status s = CheckUtf8(text, text_field); !s.ok()) return s;
    absl::StatusOr<std::vector<int32_t>> encoded = tokenizer->Encode(text);
    if (!encoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(text_field, ": ", encoded.status().message()));
    }
    if (absl::Status s = ValidateTokens(*encoded, vocab, text_field); !s.ok()) {
      return s;
    }
    if (required && encoded->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(text_field, ": encodes to no tokens"));
    }
    return encoded;
  }
  if (required && ids.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ids_field, ": must not be empty (set ", ids_field,
        tokenizer != nullptr ? absl::StrCat(" or ", text_field) : "", ")"));
  }
  if (absl::Status s = ValidateTokens(ids, vocab, ids_field); !s.ok()) {
    return s;
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::StatusOr<TurnRequest> TurnFromGenerateRequest(
    const v1::GenerateRequest& request, const v1::EngineInfo& engine,
    const Tokenizer* tokenizer) {
  const int32_t vocab = engine.shape().vocab();
  absl::StatusOr<std::vector<int32_t>> prompt =
      PromptIds(request.prompt(), request.text(), vocab, tokenizer, "prompt",
                "text", /*required=*/true);
  if (!prompt.ok()) return prompt.status();
  if (absl::Status s = ValidateLimits(request.limits(), "limits"); !s.ok()) {
    return s;
  }
  TurnRequest turn;
  turn.kind = TurnRequest::Kind::kGenerate;
  turn.tokens = *std::move(prompt);
  if (absl::Status s = FillGeneration(request.max_new_tokens(),
                                      request.sampling(), request.has_probe(),
                                      request.probe(), vocab, "", &turn);
      !s.ok()) {
    return s;
  }
  return turn;
}

absl::StatusOr<TurnRequest> TurnFromAppend(const v1::AppendTokens& append,
                                           const v1::EngineInfo& engine,
                                           const Tokenizer* tokenizer) {
  absl::StatusOr<std::vector<int32_t>> tokens =
      PromptIds(append.tokens(), append.text(), engine.shape().vocab(),
                tokenizer, "append.tokens", "append.text", /*required=*/true);
  if (!tokens.ok()) return tokens.status();
  TurnRequest turn;
  turn.kind = TurnRequest::Kind::kAppend;
  turn.tokens = *std::move(tokens);
  return turn;
}

absl::StatusOr<TurnRequest> TurnFromGenerateTurn(const v1::GenerateTurn& turn,
                                                 const v1::EngineInfo& engine,
                                                 const Tokenizer* tokenizer) {
  const int32_t vocab = engine.shape().vocab();
  absl::StatusOr<std::vector<int32_t>> prompt =
      PromptIds(turn.prompt(), turn.text(), vocab, tokenizer, "generate.prompt",
                "generate.text", /*required=*/false);
  if (!prompt.ok()) return prompt.status();
  TurnRequest out;
  out.kind = TurnRequest::Kind::kGenerate;
  out.tokens = *std::move(prompt);
  if (absl::Status s = FillGeneration(turn.max_new_tokens(), turn.sampling(),
                                      turn.has_probe(), turn.probe(), vocab,
                                      "generate.", &out);
      !s.ok()) {
    return s;
  }
  return out;
}

}  // namespace trilemma
