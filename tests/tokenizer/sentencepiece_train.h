// Trains a small SentencePiece model for the tests (tests/tokenizer), with
// Debian's libsentencepiece trainer. Kept apart from Abseil for the reason
// engines/tokenizer/sentencepiece_library.h gives.
//
// Example:
//   std::string error;
//   std::string model = TrainSentencePiece("/usr/share/common-licenses/GPL-3",
//                                          "bpe", 400, &error);
#ifndef TRILEMMA_TESTS_TOKENIZER_SENTENCEPIECE_TRAIN_H_
#define TRILEMMA_TESTS_TOKENIZER_SENTENCEPIECE_TRAIN_H_

#include <string>

namespace trilemma {

// The serialized model (a tokenizer.model's bytes) of `model_type` ("bpe"
// or "unigram") with `vocab_size` pieces and byte fallback, trained on the
// lines of `input_file`; empty with `error` set on failure.
std::string TrainSentencePiece(const std::string& input_file,
                               const std::string& model_type, int vocab_size,
                               std::string* error);

}  // namespace trilemma

#endif  // TRILEMMA_TESTS_TOKENIZER_SENTENCEPIECE_TRAIN_H_
