// Loading the tokenizer a Hugging Face model directory carries
// (docs/tokenizers.md).
//
// Example:
//   absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
//       LoadTokenizerFromDir("/models/pythia-160m");
//   if (!tok.ok()) return tok.status();
//   if (*tok == nullptr) { /* the directory has no tokenizer: ids only */ }
//
// Thread-safe (no shared state).
#ifndef TRILEMMA_ENGINES_TOKENIZER_LOAD_H_
#define TRILEMMA_ENGINES_TOKENIZER_LOAD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engines/tokenizer/tokenizer.h"

namespace trilemma {

// DIR/tokenizer.json when present (byte-level BPE), else (or when that
// file is of a kind not implemented) DIR/tokenizer.model (SentencePiece)
// when present, else null (not an
// error: the engine takes ids only). A file that is present but malformed is
// INVALID_ARGUMENT naming it; one that is well formed but of a kind this
// code does not implement (a Metaspace or WordPiece tokenizer.json, a
// tokenizer.model with an nmt_nfkc normalizer) is UNIMPLEMENTED
// naming it — the caller may then serve the model on ids alone.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFromDir(
    const std::string& dir);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_LOAD_H_
