// Small tokenizer.json texts the tokenizer tests build tokenizers from.
//
// Example:
//   auto tok = BpeTokenizer::FromJson(TinyByteLevelJson(), "tiny.json");
#ifndef TRILEMMA_TESTS_TOKENIZER_TEST_TOKENIZERS_H_
#define TRILEMMA_TESTS_TOKENIZER_TEST_TOKENIZERS_H_

#include <string>

#include "nlohmann/json.hpp"

namespace trilemma {

// A byte-level BPE tokenizer.json: the 256 byte symbols (ids 0-255, in
// byte order), merges "h e" -> "he" (256), "l l" -> "ll" (257),
// "he ll" -> "hell" (258), "hell o" -> "hello" (259), "Ġ w" -> "Ġw" (260),
// and the special token "<|end|>" (261). GPT-2's pre-tokenizer.
nlohmann::json TinyByteLevel();
inline std::string TinyByteLevelJson() { return TinyByteLevel().dump(); }

}  // namespace trilemma

#endif  // TRILEMMA_TESTS_TOKENIZER_TEST_TOKENIZERS_H_
