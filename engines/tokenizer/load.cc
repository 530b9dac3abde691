#include "engines/tokenizer/load.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engines/tokenizer/bpe_tokenizer.h"

namespace trilemma {
namespace {

// Files above this are refused before reading (the largest real
// tokenizer.json files are ~20 MB).
constexpr std::uintmax_t kMaxTokenizerFileBytes = std::uintmax_t{256} << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", error.message()));
  }
  if (size > kMaxTokenizerFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size,
                     " bytes; a tokenizer file may have at "
                     "most ",
                     kMaxTokenizerFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  }
  return std::move(text).str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFromDir(
    const std::string& dir) {
  const std::filesystem::path base(dir);
  std::error_code error;
  const std::string json = (base / "tokenizer.json").string();
  if (std::filesystem::exists(json, error)) {
    absl::StatusOr<std::string> text = ReadFile(json);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> tok =
        BpeTokenizer::FromJson(*text, json);
    if (!tok.ok()) return tok.status();
    return std::unique_ptr<Tokenizer>(*std::move(tok));
  }
  const std::string model = (base / "tokenizer.model").string();
  if (std::filesystem::exists(model, error)) {
    // Debian 12's libsentencepiece exports the protobuf-lite 3.14 it was
    // built with, which cannot share a process with gRPC's protobuf 3.21
    // (docs/tokenizers.md).
    return absl::UnimplementedError(absl::StrCat(
        model,
        ": SentencePiece models are not supported (only byte-level BPE "
        "tokenizer.json)"));
  }
  return std::unique_ptr<Tokenizer>();
}

}  // namespace trilemma
