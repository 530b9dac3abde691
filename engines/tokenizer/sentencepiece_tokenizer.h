// SentencePieceTokenizer: a SentencePiece `tokenizer.model` (Llama-2,
// Mistral, Gemma-style and models trained with spm_train), encoded and
// decoded by our own code as the reference library does
// (docs/tokenizers.md) — Debian's libsentencepiece cannot share a process
// with gRPC's protobuf.
//
// Encoding: the normalizer (the precompiled_charsmap of nmt_nfkc, nfkc...
// when the model has one, sentencepiece_charsmap.h; dummy "▁" prefix,
// extra-whitespace removal and "▁" escaping as the NormalizerSpec says),
// user-defined pieces
// cut out whole, then UNIGRAM (Viterbi over piece scores) or BPE (adjacent
// pairs merged highest score first, leftmost among equals); with
// byte_fallback an unknown character becomes its UTF-8 bytes' <0xNN>
// pieces, else the unk id (once for a run of them). Decoding: "▁" back to a
// space (the dummy prefix dropped at the start), control pieces to nothing,
// <0xNN> to its byte.
//
// Example:
//   absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
//       SentencePieceTokenizer::FromModelProto(bytes, "/m/tokenizer.model");
//   std::vector<int32_t> ids = (*tok)->Encode("Hello world").value();
//
// INVALID_ARGUMENT "FILE: <field>: ..." when malformed (see
// sentencepiece_model.h, plus: no pieces, an empty, duplicate or non-UTF-8
// piece, unk_id not naming the one UNKNOWN piece, a bos/eos/pad id out of
// range, a BYTE piece not spelled <0xNN>, byte_fallback without all 256 byte
// pieces). UNIMPLEMENTED "FILE: <field>: ..." for what this does not
// implement: WORD/CHAR models, a rule TSV, a denormalizer's charsmap,
// treat_whitespace_as_suffix.
//
// Thread-safe: immutable after FromModelProto.
#ifndef TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/sentencepiece_charsmap.h"
#include "engines/tokenizer/sentencepiece_model.h"
#include "engines/tokenizer/tokenizer.h"

namespace trilemma {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromModelProto(
      absl::string_view bytes, const std::string& file);

  // "sentencepiece-unigram" or "sentencepiece-bpe".
  absl::string_view kind() const override;
  const std::string& file() const override { return file_; }
  int32_t vocab_size() const override {
    return static_cast<int32_t>(model_.pieces.size());
  }
  // Control pieces (special) and user-defined pieces. Only user-defined
  // ones are matched in text, as in the reference: "<s>" typed in a prompt
  // is encoded as ordinary text.
  absl::Span<const AddedToken> added_tokens() const override { return added_; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text) const override;
  absl::Status AppendTokenBytes(int32_t id, bool at_start,
                                std::string* out) const override;
  // As the reference: the dummy-prefix space is dropped from the first
  // piece that is not a control piece (so "<s>▁▁c" decodes to " c" with
  // one space kept, not "c").
  absl::StatusOr<std::string> Decode(
      absl::Span<const int32_t> ids) const override;

  // The normalized text Encode segments (the charsmap's rules, "▁" for
  // spaces). REQUIRES: `text` is valid UTF-8.
  std::string Normalize(absl::string_view text) const;

 private:
  SentencePieceTokenizer() = default;
  absl::Status Validate();
  // Longest user-defined piece at the start of `text`: its length, or 0.
  size_t MatchUserDefined(absl::string_view text) const;
  // The reference's Normalizer::NormalizePrefix: what the start of `text`
  // (non-empty) becomes and the bytes it consumes — a user-defined piece
  // as is, else the charsmap's longest rule, else one character as is.
  std::pair<absl::string_view, size_t> NormalizePrefix(
      absl::string_view text) const;
  void EncodeUnigram(
      absl::string_view normalized,
      std::vector<std::pair<absl::string_view, int32_t>>* out) const;
  void EncodeBpe(absl::string_view normalized,
                 std::vector<std::pair<absl::string_view, int32_t>>* out) const;
  // The id of `piece` among the pieces the models may produce (NORMAL,
  // USER_DEFINED, UNUSED), else -1.
  int32_t PieceId(absl::string_view piece) const;

  std::string file_;
  SentencePieceModel model_;
  std::optional<PrecompiledCharsMap> charsmap_;          // none: identity
  absl::flat_hash_map<std::string, int32_t> piece_ids_;  // normal-kind pieces
  absl::flat_hash_map<std::string, int32_t> reserved_ids_;  // the others
  std::vector<AddedToken> added_;
  std::vector<std::string> user_defined_;  // longest first
  size_t max_piece_bytes_ = 0;
  std::array<int32_t, 256> byte_ids_{};
  float min_score_ = 0;
  float max_score_ = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
