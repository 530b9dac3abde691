// MQAR recall of an engine measured in-process, the one implementation the
// engine test areas share (tests/engines, tests/engines_linear,
// tests/engines_evict_memory).
//
// MQAR (Zoology; docs/recall-circuit.md): keys from the lower half of the
// vocabulary, values from the upper half; the prompt k1 v1 … kN vN is
// prefilled, then for up to `max_queries` distinct pairs in random order:
// feed k_i, compare the argmax of the logits with v_i, then feed the true
// v_i, so a query never corrupts the stored pairs (each query turn restates
// its pair, as the client's `recall` command does). The same seed gives the
// same pairs and queries for every engine of the same vocabulary.
//
// Example:
//   absl::StatusOr<MqarRecallResult> r =
//       MeasureMqarRecall(*engine, /*pairs=*/64, /*max_queries=*/100, 7);
//   EXPECT_GE(r->recall, 0.9);
//
// Header-only (the areas link different engine sets); not thread-safe per
// engine session, like every Session.
#ifndef TRILEMMA_TESTS_COMMON_MQAR_RECALL_H_
#define TRILEMMA_TESTS_COMMON_MQAR_RECALL_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engines/engine.h"
#include "engines/ops/vector_ops.h"

namespace trilemma::testing {

struct MqarRecallResult {
  double recall = 0;  // hits / queries (0 when no query was asked)
  int hits = 0;
  int queries = 0;
  int64_t state_bytes = 0;     // model tier after the prompt
  int64_t external_bytes = 0;  // external tier after the prompt
};

// Stores `pairs` pairs in a fresh session of `engine` and asks
// min(pairs, max_queries) of them. INVALID_ARGUMENT unless pairs is in
// [1, vocab/2]; an engine error (e.g. RESOURCE_EXHAUSTED) is returned as is.
inline absl::StatusOr<MqarRecallResult> MeasureMqarRecall(const Engine& engine,
                                                          int pairs,
                                                          int max_queries,
                                                          uint64_t seed) {
  const int vocab = engine.info().shape().vocab();
  const int half = vocab / 2;
  if (pairs < 1 || pairs > half) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs: ", pairs, " not in [1, vocab/2 = ", half, "]"));
  }
  std::mt19937_64 rng(seed);
  std::vector<int32_t> keys(half), values(half);
  std::iota(keys.begin(), keys.end(), 0);
  std::iota(values.begin(), values.end(), half);
  std::shuffle(keys.begin(), keys.end(), rng);
  std::shuffle(values.begin(), values.end(), rng);
  std::vector<int32_t> prompt;
  for (int i = 0; i < pairs; ++i) {
    prompt.push_back(keys[i]);
    prompt.push_back(values[i]);
  }
  std::vector<int> order(pairs);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min(pairs, std::max(max_queries, 0)));

  absl::StatusOr<std::unique_ptr<Session>> session = engine.NewSession();
  if (!session.ok()) return session.status();
  Session* s = session->get();
  if (absl::Status st = s->Reserve(prompt.size()); !st.ok()) return st;
  std::vector<float> logits(vocab);
  if (absl::Status st = engine.Prefill(s, prompt, logits.data()); !st.ok()) {
    return st;
  }
  MqarRecallResult result{.queries = static_cast<int>(order.size()),
                          .state_bytes = s->state_bytes(),
                          .external_bytes = s->external_state_bytes()};
  Session* batch[] = {s};
  for (const int i : order) {
    for (const int32_t token : {keys[i], values[i]}) {
      if (absl::Status st = s->Reserve(1); !st.ok()) return st;
      if (absl::Status st = engine.Step(batch, {&token, 1}, logits.data());
          !st.ok()) {
        return st;
      }
      if (token == keys[i]) {
        result.hits += ops::Argmax(logits.data(), vocab) == values[i];
      }
    }
  }
  if (result.queries > 0) {
    result.recall = static_cast<double>(result.hits) / result.queries;
  }
  return result;
}

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_COMMON_MQAR_RECALL_H_
