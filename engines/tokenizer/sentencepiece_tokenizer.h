// SentencePieceTokenizer: a SentencePiece tokenizer.model (Llama-1/2,
// Mistral, T5 ...) through Debian's libsentencepiece (docs/tokenizers.md).
//
// Example:
//   absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
//       SentencePieceTokenizer::FromSerialized(bytes, "DIR/tokenizer.model");
//   std::vector<int32_t> ids = (*tok)->Encode("Hello world").value();
//
// Encoding is the library's EncodeAsIds (its normalizer, its dummy prefix,
// no BOS). Decoding is per token: "▁" becomes a space, byte pieces
// (<0xE2>) their byte, control pieces nothing, the unknown piece " ⁇ ";
// the first token of a text drops the dummy-prefix space — what the
// library's DecodeIds gives, but a token at a time, so streaming works.
//
// Thread-safe: the library's processor is const after loading.
#ifndef TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/sentencepiece_library.h"
#include "engines/tokenizer/tokenizer.h"

namespace trilemma {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // `serialized` is the content of a tokenizer.model; INVALID_ARGUMENT
  // "FILE: not a SentencePiece model: ..." when the library refuses it.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromSerialized(
      absl::string_view serialized, const std::string& file);

  // The library underneath, for tests that compare with its DecodeIds.
  const SentencePieceLibrary& library() const { return *library_; }

  absl::string_view kind() const override { return "sentencepiece"; }
  const std::string& file() const override { return file_; }
  int32_t vocab_size() const override {
    return static_cast<int32_t>(pieces_.size());
  }
  absl::Span<const AddedToken> added_tokens() const override { return added_; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text) const override;
  absl::Status AppendTokenBytes(int32_t id, bool at_start,
                                std::string* out) const override;

 private:
  SentencePieceTokenizer() = default;

  std::string file_;
  std::unique_ptr<SentencePieceLibrary> library_;
  std::vector<std::string> pieces_;  // decoded bytes by id
  std::vector<AddedToken> added_;    // control and unknown pieces
  bool dummy_prefix_ = false;        // the model prepends "▁" to a text
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
