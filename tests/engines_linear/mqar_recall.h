// MQAR recall of an engine, measured in-process (the same protocol as the
// client's `recall` command, with the true answer fed back): N pairs
// k1 v1 … kN vN with keys from the lower vocabulary half and values from the
// upper half, then queries k_i whose greedy next token must be v_i; after
// each query the true v_i is appended, so every query turn leaves the pair
// restated in the context.
#ifndef TRILEMMA_TESTS_ENGINES_LINEAR_MQAR_RECALL_H_
#define TRILEMMA_TESTS_ENGINES_LINEAR_MQAR_RECALL_H_

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "engines/engine.h"
#include "engines/ops/vector_ops.h"

namespace trilemma::testing {

// Fraction of `queries` (at most N; distinct pairs in random order) answered
// correctly after storing `pairs` pairs.
inline absl::StatusOr<double> MqarRecall(const Engine& engine, int pairs,
                                         int queries, uint64_t seed) {
  const int vocab = engine.info().shape().vocab();
  std::mt19937_64 rng(seed);
  std::vector<int32_t> keys(vocab / 2), values(vocab / 2);
  std::iota(keys.begin(), keys.end(), 0);
  std::iota(values.begin(), values.end(), vocab / 2);
  std::shuffle(keys.begin(), keys.end(), rng);
  std::shuffle(values.begin(), values.end(), rng);
  std::vector<int32_t> context;
  for (int i = 0; i < pairs; ++i) {
    context.push_back(keys[i]);
    context.push_back(values[i]);
  }
  std::vector<int> order(pairs);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  queries = std::min(queries, pairs);

  absl::StatusOr<std::unique_ptr<Session>> session = engine.NewSession();
  if (!session.ok()) return session.status();
  Session* s = session->get();
  if (absl::Status st = s->Reserve(context.size() + 2 * queries); !st.ok()) {
    return st;
  }
  std::vector<float> logits(vocab);
  if (absl::Status st = engine.Prefill(s, context, logits.data()); !st.ok()) {
    return st;
  }
  int hits = 0;
  Session* batch[] = {s};
  for (int q = 0; q < queries; ++q) {
    const int32_t key = keys[order[q]], value = values[order[q]];
    if (absl::Status st = engine.Step(batch, {&key, 1}, logits.data());
        !st.ok()) {
      return st;
    }
    hits += ops::Argmax(logits.data(), vocab) == value;
    if (absl::Status st = engine.Step(batch, {&value, 1}, logits.data());
        !st.ok()) {
      return st;
    }
  }
  return queries == 0 ? 0.0 : static_cast<double>(hits) / queries;
}

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_ENGINES_LINEAR_MQAR_RECALL_H_
