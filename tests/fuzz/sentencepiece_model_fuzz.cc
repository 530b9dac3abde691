// Fuzz target: arbitrary bytes as tokenizer.model ->
// SentencePieceTokenizer::FromModelProto (engines/tokenizer/
// sentencepiece_tokenizer.h), then, when it loads, encoding a few texts
// (fixed ones and the input's own bytes made valid UTF-8) and decoding the
// ids, whole and streamed.
//
// Traps when a refusal is not INVALID_ARGUMENT (malformed) or UNIMPLEMENTED
// (a kind not implemented) naming the file; when Encode fails on valid
// UTF-8; when an id is outside [0, vocab_size); when a decode or a streamed
// piece is not valid UTF-8. Seeds: tests/fuzz/corpus/sentencepiece_model_fuzz/
// (tests/fuzz/make_sentencepiece_seeds.py).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<trilemma::SentencePieceTokenizer>> tok =
      trilemma::SentencePieceTokenizer::FromModelProto(bytes,
                                                       "tokenizer.model");
  if (!tok.ok()) {
    if ((tok.status().code() != absl::StatusCode::kInvalidArgument &&
         tok.status().code() != absl::StatusCode::kUnimplemented) ||
        !absl::StartsWith(tok.status().message(), "tokenizer.model: ")) {
      __builtin_trap();
    }
    return 0;
  }
  const std::string texts[] = {
      "hello world", "  it's 12345 \t\n\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80  ",
      trilemma::ToValidUtf8(bytes.substr(0, 256))};
  for (const std::string& text : texts) {
    absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(text);
    if (!ids.ok()) __builtin_trap();
    for (int32_t id : *ids) {
      if (id < 0 || id >= (*tok)->vocab_size()) __builtin_trap();
    }
    absl::StatusOr<std::string> decoded = (*tok)->Decode(*ids);
    if (!decoded.ok() || trilemma::ToValidUtf8(*decoded) != *decoded) {
      __builtin_trap();
    }
    trilemma::StreamingDetokenizer stream(**tok);
    for (int32_t id : *ids) {
      absl::StatusOr<std::string> piece = stream.Add(id);
      if (!piece.ok() || trilemma::ToValidUtf8(*piece) != *piece) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
