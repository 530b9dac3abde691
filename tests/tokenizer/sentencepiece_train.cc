// Includes nothing from Abseil: see sentencepiece_train.h.
#include "tests/tokenizer/sentencepiece_train.h"

#include <sentencepiece_trainer.h>

#include <unordered_map>

namespace trilemma {

std::string TrainSentencePiece(const std::string& input_file,
                               const std::string& model_type, int vocab_size,
                               std::string* error) {
  const std::unordered_map<std::string, std::string> args = {
      {"input", input_file},
      {"model_type", model_type},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "1.0"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
  };
  std::string model;
  const sentencepiece::util::Status status =
      sentencepiece::SentencePieceTrainer::Train(args, nullptr, &model);
  if (!status.ok()) {
    *error = status.ToString();
    return "";
  }
  return model;
}

}  // namespace trilemma
