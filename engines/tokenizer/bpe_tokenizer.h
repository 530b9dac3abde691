// BpeTokenizer: a byte-level BPE tokenizer read from a Hugging Face
// tokenizer.json — the GPT-2, GPT-NeoX/Pythia and Llama-3 kind
// (docs/tokenizers.md).
//
// Encoding follows the tokenizers library: added/special tokens are cut out
// of the text first (leftmost, longest first); each remaining segment is
// normalized (NFC/NFKC/NFD/NFKD or none), split by the pre-tokenizers
// (Split with a PCRE2 pattern, ByteLevel with its GPT-2 pattern), mapped to
// the byte-level alphabet and merged by rank (or taken whole when
// "ignore_merges" is set and the word is in the vocabulary). Decoding maps
// the byte-level alphabet back to bytes.
//
// Example:
//   absl::StatusOr<std::unique_ptr<BpeTokenizer>> tok =
//       BpeTokenizer::FromJson(json_text, "/models/gpt2/tokenizer.json");
//   std::vector<int32_t> ids = (*tok)->Encode("Hello world").value();
//   // [15496, 995]
//
// Refused with INVALID_ARGUMENT "FILE: <key>: ..." when malformed: not JSON;
// a missing or malformed vocab or merges; a merge naming a token the vocab
// lacks; a vocab without all 256 byte-level symbols; a bad Split regex or
// behaviour; bad added tokens. UNIMPLEMENTED "FILE: <key>: ..." when well
// formed but outside what this implements: a model type other than BPE; a
// normalizer, pre-tokenizer or decoder other than those listed above; BPE
// options (dropout, byte_fallback, continuing_subword_prefix,
// end_of_word_suffix).
//
// Thread-safe: immutable after FromJson.
#ifndef TRILEMMA_ENGINES_TOKENIZER_BPE_TOKENIZER_H_
#define TRILEMMA_ENGINES_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engines/tokenizer/normalizer.h"
#include "engines/tokenizer/regex.h"
#include "engines/tokenizer/tokenizer.h"

namespace trilemma {

class BpeTokenizer final : public Tokenizer {
 public:
  // Ids above this are refused at load (bounds the tables a file can make).
  static constexpr int32_t kMaxVocab = 1 << 24;

  // Parses and validates tokenizer.json text; `file` names it in errors.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromJson(
      absl::string_view json, const std::string& file);

  absl::string_view kind() const override { return "bpe"; }
  const std::string& file() const override { return file_; }
  int32_t vocab_size() const override {
    return static_cast<int32_t>(tokens_.size());
  }
  absl::Span<const AddedToken> added_tokens() const override { return added_; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text) const override;
  absl::Status AppendTokenBytes(int32_t id, bool at_start,
                                std::string* out) const override;

  // The id of a vocab or added token as written in the file (byte-level
  // alphabet, e.g. "Ġworld"), or -1.
  int32_t TokenId(absl::string_view token) const;

 private:
  // How a Split pre-tokenizer treats the pieces its pattern matches.
  enum class SplitBehavior {
    kIsolated,
    kRemoved,
    kMergedWithPrevious,
    kMergedWithNext,
    kContiguous
  };
  struct PreTokenizerStep {
    std::unique_ptr<Regex> regex;  // null: no split (ByteLevel use_regex off)
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel's
  };
  struct TokenEntry {
    bool assigned = false;
    bool added = false;
    std::string bytes;  // what decoding this id yields
  };
  struct Merge {
    int32_t rank = 0;
    int32_t merged = 0;
  };
  class Parser;

  BpeTokenizer() = default;
  absl::Status EncodeSegment(absl::string_view segment,
                             std::vector<int32_t>* ids) const;
  absl::Status PreTokenize(const PreTokenizerStep& step,
                           std::vector<std::string>& pieces) const;
  void MergeWord(absl::string_view word, std::vector<int32_t>* ids) const;

  std::string file_;
  std::vector<TokenEntry> tokens_;                       // by id
  absl::flat_hash_map<std::string, int32_t> token_ids_;  // as in the file
  absl::flat_hash_map<uint64_t, Merge> merges_;          // (left, right)
  std::array<int32_t, 256> byte_ids_{};
  bool ignore_merges_ = false;
  std::vector<AddedToken> added_;
  // Indexes into added_ by the first byte of the content, longest first.
  std::array<std::vector<int32_t>, 256> added_by_first_byte_;
  std::vector<UnicodeNormalizer> normalizers_;
  std::vector<PreTokenizerStep> pre_tokenizers_;
};

// The GPT-2 byte-to-character map of byte-level BPE: printable Latin-1
// bytes stand for themselves, the other 68 map to U+0100 onwards. Returns
// the code point byte `b` is written as.
char32_t ByteLevelChar(uint8_t b);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_BPE_TOKENIZER_H_
