// Regex: a compiled PCRE2 pattern (UTF-8, Unicode properties) that finds
// every non-overlapping match in a text — what a tokenizer.json Split
// pre-tokenizer needs (docs/tokenizers.md). PCRE2, not RE2: the patterns
// tokenizers ship use look-ahead ("\s+(?!\S)").
//
// Example:
//   absl::StatusOr<std::unique_ptr<Regex>> re = Regex::Compile(
//       R"( ?\p{L}+| ?\p{N}+|\s+(?!\S)|\s+)", /*literal=*/false, "pattern");
//   std::vector<Regex::Span> spans;
//   absl::Status s = (*re)->FindAll("hello  world", &spans);
//   // spans: [0,5) [5,6) [6,12)
//
// Thread-safe: the compiled pattern is immutable; each FindAll uses its own
// match data. Matching is bounded (a match limit and a heap limit), so a
// pathological pattern fails with RESOURCE_EXHAUSTED instead of hanging.
#ifndef TRILEMMA_ENGINES_TOKENIZER_REGEX_H_
#define TRILEMMA_ENGINES_TOKENIZER_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

class Regex {
 public:
  struct Span {
    size_t begin = 0;
    size_t end = 0;
  };

  // Compiles `pattern` (a literal string when `literal`). INVALID_ARGUMENT
  // "`where`: bad regex at offset N: <PCRE2 message>".
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(
      absl::string_view pattern, bool literal, const std::string& where);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the non-empty matches in `text` (valid UTF-8), left to right,
  // to `out`. An empty match is skipped by one code point.
  // RESOURCE_EXHAUSTED when the match or heap limit is hit.
  absl::Status FindAll(absl::string_view text, std::vector<Span>* out) const;

 private:
  struct Compiled;
  explicit Regex(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_REGEX_H_
