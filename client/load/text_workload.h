// Text workloads for `trilemma load --api=openai`, which any tokenizer can
// carry, with answers scored from the returned text (docs/http.md):
//
//   passkey   a 5-digit number hidden in repeated filler at a chosen depth,
//             then "What is the pass key?" (Mohtashami & Jaggi, 2023);
//   phonebook N "Name: number" entries, then one name's number is asked —
//             the copying task on which attention and fixed-size states
//             part ways (Jelassi et al., 2024).
//
// Example:
//   TextPlan p = MakePasskeyPlan(/*filler_words=*/2000, /*depth=*/0.5, seed);
//   // send p.prompt with max_tokens p.max_tokens, then
//   bool hit = ScoreTextAnswer(reply_text, p.expected);
//
// Plans are pure functions of their arguments and seed.
#ifndef TRILEMMA_CLIENT_LOAD_TEXT_WORKLOAD_H_
#define TRILEMMA_CLIENT_LOAD_TEXT_WORKLOAD_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace trilemma::client {

struct TextPlan {
  std::string prompt;
  // The digits the answer must start with (after optional spaces).
  std::string expected;
  int32_t max_tokens = 16;
};

// About `filler_words` words of filler with the pass key inserted at
// `depth` (0 = start, 1 = end). REQUIRES: depth in [0, 1].
TextPlan MakePasskeyPlan(int64_t filler_words, double depth, uint64_t seed);

// `entries` distinct names with 10-digit numbers, then a question about
// one of them chosen uniformly. REQUIRES: entries >= 1.
TextPlan MakePhonebookPlan(int64_t entries, uint64_t seed);

// True when the first run of digits in `answer` (dashes inside a number
// ignored) equals `expected`.
bool ScoreTextAnswer(absl::string_view answer, absl::string_view expected);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_TEXT_WORKLOAD_H_
