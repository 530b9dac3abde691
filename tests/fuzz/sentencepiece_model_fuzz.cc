// Fuzz target: arbitrary bytes as tokenizer.model ->
// SentencePieceTokenizer::FromModelProto (engines/tokenizer/
// sentencepiece_tokenizer.h), then, when it loads, encoding a few texts
// (fixed ones and the input's own bytes made valid UTF-8) and decoding the
// ids, whole and streamed; and the same bytes as a bare
// precompiled_charsmap (sentencepiece_charsmap.h).
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
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/sentencepiece_tokenizer.h"

namespace {

// The input as a bare precompiled_charsmap too (the nmt_nfkc seeds hold
// real ones): refused only with INVALID_ARGUMENT naming the field; when
// parsed, every prefix match stays inside the text.
void FuzzCharsMap(absl::string_view bytes) {
  absl::StatusOr<trilemma::PrecompiledCharsMap> map =
      trilemma::PrecompiledCharsMap::Parse(bytes, "spec");
  if (!map.ok()) {
    if (map.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(map.status().message(),
                          "spec.precompiled_charsmap: ")) {
      __builtin_trap();
    }
    return;
  }
  const std::string text = absl::StrCat(
      "\xEF\xAC\x81 \xEF\xBC\xA1\xE3\x8D\xBB\t", bytes.substr(0, 64));
  for (size_t i = 0; i < text.size(); ++i) {
    const auto [replacement, consumed] =
        map->LongestPrefix(absl::string_view(text).substr(i));
    if (consumed > text.size() - i) __builtin_trap();
    if (consumed == 0 && !replacement.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  FuzzCharsMap(bytes);
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
