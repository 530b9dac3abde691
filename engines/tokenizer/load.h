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

// DIR/tokenizer.json when present (byte-level BPE), else DIR/tokenizer.model
// (SentencePiece), else null (not an error: the engine takes ids only).
// A file that is present but unusable is INVALID_ARGUMENT naming it.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFromDir(
    const std::string& dir);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_LOAD_H_
