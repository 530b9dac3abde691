#include "engines/tokenizer/load.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engines/tokenizer/bpe_tokenizer.h"
#include "engines/tokenizer/sentencepiece_tokenizer.h"

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
    if (tok.ok()) return std::unique_ptr<Tokenizer>(*std::move(tok));
    // A Llama-2-style directory ships both; its tokenizer.json (Metaspace
    // BPE) is not implemented, its tokenizer.model is.
    if (tok.status().code() != absl::StatusCode::kUnimplemented ||
        !std::filesystem::exists(base / "tokenizer.model", error)) {
      return tok.status();
    }
  }
  const std::string model = (base / "tokenizer.model").string();
  if (std::filesystem::exists(model, error)) {
    // Our own reader: Debian 12's libsentencepiece cannot share a process
    // with gRPC's protobuf (docs/tokenizers.md).
    absl::StatusOr<std::string> bytes = ReadFile(model);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tok =
        SentencePieceTokenizer::FromModelProto(*bytes, model);
    if (!tok.ok()) return tok.status();
    return std::unique_ptr<Tokenizer>(*std::move(tok));
  }
  return std::unique_ptr<Tokenizer>();
}

}  // namespace trilemma
