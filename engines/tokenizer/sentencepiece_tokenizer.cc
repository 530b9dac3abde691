#include "engines/tokenizer/sentencepiece_tokenizer.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace trilemma {
namespace {

constexpr absl::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>>
SentencePieceTokenizer::FromSerialized(absl::string_view serialized,
                                       const std::string& file) {
  std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
  tok->file_ = file;
  std::string error;
  tok->library_ = SentencePieceLibrary::Load(std::string(serialized), &error);
  if (tok->library_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": not a SentencePiece model: ", error));
  }
  const SentencePieceLibrary& sp = *tok->library_;
  const int n = sp.PieceSize();
  if (n <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": has no pieces"));
  }
  tok->pieces_.resize(n);
  for (int id = 0; id < n; ++id) {
    const std::string piece = sp.IdToPiece(id);
    std::string& bytes = tok->pieces_[id];
    uint32_t byte = 0;
    if (sp.IsControl(id) || sp.IsUnused(id)) {
      tok->added_.push_back({id, piece, /*special=*/true});
    } else if (sp.IsUnknown(id)) {
      bytes = " \xE2\x81\x87 ";  // the library's default unknown surface
      tok->added_.push_back({id, piece, /*special=*/true});
    } else if (sp.IsByte(id) && piece.size() == 6 &&
               absl::StartsWith(piece, "<0x") &&
               absl::SimpleHexAtoi(piece.substr(3, 2), &byte)) {
      bytes.push_back(static_cast<char>(byte));
    } else {
      bytes = absl::StrReplaceAll(piece, {{kSpaceMark, " "}});
    }
  }
  // Whether the model puts "▁" before a text: then the first decoded token
  // drops its leading space, as DecodeIds does.
  std::vector<int> probe;
  tok->dummy_prefix_ = sp.Encode("a", &probe, &error) && !probe.empty() &&
                       absl::StartsWith(sp.IdToPiece(probe[0]), kSpaceMark);
  return tok;
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(
    absl::string_view text) const {
  if (absl::Status s = CheckUtf8(text, "text"); !s.ok()) return s;
  std::vector<int> ids;
  std::string error;
  if (!library_->Encode(std::string(text), &ids, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": cannot encode: ", error));
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::Status SentencePieceTokenizer::AppendTokenBytes(int32_t id, bool at_start,
                                                      std::string* out) const {
  if (id < 0 || id >= vocab_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token ", id, " is not in the vocabulary of ", file_, " (",
                     vocab_size(), " ids)"));
  }
  absl::string_view bytes = pieces_[id];
  if (at_start && dummy_prefix_ && absl::StartsWith(bytes, " ")) {
    bytes.remove_prefix(1);
  }
  absl::StrAppend(out, bytes);
  return absl::OkStatus();
}

}  // namespace trilemma
