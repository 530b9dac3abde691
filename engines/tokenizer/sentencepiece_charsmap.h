// PrecompiledCharsMap: a SentencePiece NormalizerSpec's
// `precompiled_charsmap` (the nmt_nfkc, nfkc, nmt_nfkc_cf and nfkc_cf
// rules), read by our own code as the reference library reads it
// (docs/tokenizers.md, "SentencePiece normalization").
//
// The blob is <trie bytes: uint32 little-endian><darts-clone double-array
// trie: that many bytes of uint32 units><normalized strings, each ending in
// '\0'>. The trie maps an input prefix (bytes) to the offset of its
// replacement among the normalized strings; the normalizer takes the
// longest matching prefix at each position and keeps the character
// unchanged where none matches.
//
// Example:
//   absl::StatusOr<PrecompiledCharsMap> map = PrecompiledCharsMap::Parse(
//       spec.precompiled_charsmap, "tokenizer.model: normalizer_spec");
//   auto [replacement, consumed] = map->LongestPrefix("ﬁne");
//   // replacement == "fi", consumed == 3 (the ligature's UTF-8 bytes)
//
// Parse checks every node a search can reach once (each leaf inside the
// array, each value naming a string inside the table), so LongestPrefix
// never reads out of bounds, even on a trie with cycles (a search ends with
// its text). Thread-safe: immutable after Parse.
#ifndef TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_CHARSMAP_H_
#define TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_CHARSMAP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

class PrecompiledCharsMap {
 public:
  // INVALID_ARGUMENT "`where`.precompiled_charsmap: ..." naming what is
  // broken (truncated blob, trie size, a leaf or value out of range, the
  // strings not ending in '\0', no rule at all).
  static absl::StatusOr<PrecompiledCharsMap> Parse(absl::string_view blob,
                                                   absl::string_view where);

  // The replacement of the longest rule matching a prefix of `text` and the
  // bytes it consumes; {"", 0} when no rule matches.
  std::pair<absl::string_view, size_t> LongestPrefix(
      absl::string_view text) const;

  // Leaves Parse found (a leaf shared by several keys counts once).
  int64_t rules() const { return rules_; }

 private:
  PrecompiledCharsMap() = default;

  std::vector<uint32_t> units_;
  std::string normalized_;
  int64_t rules_ = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_CHARSMAP_H_
