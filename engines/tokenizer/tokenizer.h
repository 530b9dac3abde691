// Tokenizer: maps UTF-8 text to an engine's token ids and back
// (docs/tokenizers.md). Implemented: byte-level BPE from a Hugging Face
// tokenizer.json (bpe_tokenizer.h) and SentencePiece from a tokenizer.model
// (sentencepiece_tokenizer.h); LoadTokenizerFromDir (load.h) loads the one a
// model directory carries.
//
// Example:
//   absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
//       LoadTokenizerFromDir("/models/pythia-160m");
//   std::vector<int32_t> ids = (*tok)->Encode("Hello world").value();
//   std::string text = (*tok)->Decode(ids).value();   // "Hello world"
//   StreamingDetokenizer stream(**tok);
//   for (int32_t id : generated) std::cout << stream.Add(id).value();
//   std::cout << stream.Flush();
//
// Thread-safety: a Tokenizer is immutable after loading; every method is
// const and may be called concurrently. A StreamingDetokenizer is one
// stream's state and is not thread-safe.
#ifndef TRILEMMA_ENGINES_TOKENIZER_TOKENIZER_H_
#define TRILEMMA_ENGINES_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace trilemma {

// A token that is matched as a whole before the model's own splitting
// (Hugging Face "added_tokens").
struct AddedToken {
  int32_t id = 0;
  std::string content;
  // Special tokens (e.g. "<|endoftext|>") mark structure rather than text.
  bool special = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // What this is, e.g. "bpe" (reported in EngineInfo).
  virtual absl::string_view kind() const = 0;
  // The file it was loaded from.
  virtual const std::string& file() const = 0;
  // Every id Encode returns and Decode accepts is in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  // Added and special tokens, by id.
  virtual absl::Span<const AddedToken> added_tokens() const = 0;

  // The ids of `text`. Added tokens are matched where they occur in the text;
  // nothing is prepended (no BOS) — the caller adds what its prompt format
  // needs. INVALID_ARGUMENT when `text` is not valid UTF-8 (naming the byte
  // offset) or holds something the vocabulary cannot express.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text) const = 0;

  // Appends the bytes token `id` contributes to a decoded text to `out`.
  // `at_start` is true while the decoded text is still empty (a
  // SentencePiece-style tokenizer would drop its dummy-prefix space there). The
  // bytes may be part of a UTF-8 code point (byte-level and byte-fallback
  // tokens); StreamingDetokenizer reassembles them. INVALID_ARGUMENT naming the
  // id when it is outside [0, vocab_size()).
  virtual absl::Status AppendTokenBytes(int32_t id, bool at_start,
                                        std::string* out) const = 0;

  // The text of `ids`, as the reference decoders give it: the tokens' bytes
  // concatenated, with each invalid UTF-8 sequence replaced by U+FFFD.
  // Special tokens are included as written. Decode(Encode(x)) == x for
  // valid UTF-8 x with the tokenizers this project loads (tests/tokenizer).
  // Virtual: SentencePiece decides "at the start" by pieces, not bytes.
  virtual absl::StatusOr<std::string> Decode(
      absl::Span<const int32_t> ids) const;
};

// Turns a stream of generated ids into text pieces that are always valid
// UTF-8: bytes of a code point split across tokens are held back until the
// code point is whole; bytes that can never form one become U+FFFD. The
// concatenation of every Add(...) result and Flush() equals
// tokenizer.Decode(ids) with at_start = false for the first token (a
// generation continues a prompt, so its leading space is kept).
class StreamingDetokenizer {
 public:
  // REQUIRES: `tokenizer` outlives this object.
  explicit StreamingDetokenizer(const Tokenizer& tokenizer)
      : tokenizer_(tokenizer) {}

  // The text that token `id` completes: possibly empty (a partial code
  // point), possibly including bytes held back from earlier tokens.
  // INVALID_ARGUMENT for an id outside the vocabulary (nothing changes).
  absl::StatusOr<std::string> Add(int32_t id);

  // The bytes still held back, each as U+FFFD (the stream ended inside a
  // code point); empty when none. Clears them.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;  // bytes of an incomplete trailing code point
};

// Valid UTF-8 made from `bytes`: each maximal invalid subsequence becomes
// U+FFFD (the WHATWG / Unicode "substitution of maximal subparts" rule, as
// JavaScript's TextDecoder and Rust's from_utf8_lossy do).
std::string ToValidUtf8(absl::string_view bytes);

// How many bytes at the end of `bytes` are a proper prefix of a valid UTF-8
// sequence (0 to 3): what must wait for the next token.
size_t IncompleteUtf8Suffix(absl::string_view bytes);

// OK when `text` is valid UTF-8; else INVALID_ARGUMENT "`field`: not valid
// UTF-8 at byte N".
absl::Status CheckUtf8(absl::string_view text, absl::string_view field);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_TOKENIZER_H_
