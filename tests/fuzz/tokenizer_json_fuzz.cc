// Fuzz target: arbitrary bytes as tokenizer.json -> BpeTokenizer::FromJson
// (engines/tokenizer/bpe_tokenizer.h), then, when it loads, encoding a few
// texts (fixed ones and the input's own bytes made valid UTF-8) and
// decoding the ids, token by token as the server streams them.
//
// Traps when a refusal is not INVALID_ARGUMENT (malformed) or UNIMPLEMENTED
// (a kind not implemented) naming the file; when
// Encode fails other than INVALID_ARGUMENT or RESOURCE_EXHAUSTED (a regex
// hitting its match limit); when an id is outside [0, vocab_size); when a
// streamed piece is not valid UTF-8. Seeds: tests/fuzz/corpus/
// tokenizer_json_fuzz/ (tests/fuzz/make_tokenizer_seeds.py).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/bpe_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<trilemma::BpeTokenizer>> tok =
      trilemma::BpeTokenizer::FromJson(json, "tokenizer.json");
  if (!tok.ok()) {
    if ((tok.status().code() != absl::StatusCode::kInvalidArgument &&
         tok.status().code() != absl::StatusCode::kUnimplemented) ||
        !absl::StartsWith(tok.status().message(), "tokenizer.json: ")) {
      __builtin_trap();
    }
    return 0;
  }
  const std::string texts[] = {
      "hello world", "  it's 12345 \t\n\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80",
      trilemma::ToValidUtf8(json.substr(0, 256))};
  for (const std::string& text : texts) {
    absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(text);
    if (!ids.ok()) {
      if (ids.status().code() != absl::StatusCode::kInvalidArgument &&
          ids.status().code() != absl::StatusCode::kResourceExhausted) {
        __builtin_trap();
      }
      continue;
    }
    trilemma::StreamingDetokenizer stream(**tok);
    for (int32_t id : *ids) {
      if (id < 0 || id >= (*tok)->vocab_size()) __builtin_trap();
      absl::StatusOr<std::string> piece = stream.Add(id);
      if (!piece.ok() || trilemma::ToValidUtf8(*piece) != *piece) {
        __builtin_trap();
      }
    }
    if (!(*tok)->Decode(*ids).ok()) __builtin_trap();
  }
  return 0;
}
