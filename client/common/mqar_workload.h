// MQAR (multi-query associative recall, as in Zoology) workloads with known
// answers: N key-value pairs to store in a session, then queries whose
// correct answers are the stored values.
//
// Example:
//   absl::StatusOr<MqarWorkload> w = MakeMqarWorkload(
//       {.vocab = 8192, .pairs = 64, .queries = 64, .seed = 7});
//   session.Append(w->context);            // k1 v1 k2 v2 ... kN vN
//   for (const MqarQuery& q : w->queries)  // prompt [q.key], expect q.value
//     ...
//
// Keys are drawn without replacement from the lower half of the vocabulary
// [0, vocab/2) and values without replacement from the upper half
// [vocab/2, vocab), so a key is never also a value and every answer is
// unambiguous. The same options give the same workload on every platform
// (the generator does not use implementation-defined distributions).
//
// Query convention (Zoology's): each query turn leaves two tokens in the
// context, the query key and the generated answer, so a correct answer
// restates the pair `k_i v_i` just as in Zoology's query section. Distances
// assume that convention (see MqarQuery::distance).
#ifndef TRILEMMA_CLIENT_COMMON_MQAR_WORKLOAD_H_
#define TRILEMMA_CLIENT_COMMON_MQAR_WORKLOAD_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace trilemma::client {

struct MqarOptions {
  // Vocabulary size of the engine; >= 2.
  int32_t vocab = 0;
  // Key-value pairs to store; in [1, vocab / 2].
  int32_t pairs = 0;
  // Queries to ask; >= 0. When larger than `pairs`, keys repeat: the query
  // order is a sequence of random permutations of all pairs, so every pair
  // is asked once before any is asked again.
  int32_t queries = 0;
  uint64_t seed = 0;
};

struct MqarQuery {
  // Index of the queried pair in MqarWorkload::keys / values.
  int32_t pair = 0;
  int32_t key = 0;
  // The expected answer.
  int32_t value = 0;
  // Tokens strictly between the stored value token v_i and the query key,
  // assuming every earlier query left two tokens in the context:
  // 2 * (pairs - 1 - pair) + 2 * (index of this query).
  int64_t distance = 0;
};

struct MqarWorkload {
  std::vector<int32_t> keys;
  std::vector<int32_t> values;
  // The tokens that store the pairs: keys[0] values[0] keys[1] values[1] ...
  std::vector<int32_t> context;
  std::vector<MqarQuery> queries;
};

// Builds a workload. INVALID_ARGUMENT naming the field when `vocab`, `pairs`
// or `queries` is out of range.
absl::StatusOr<MqarWorkload> MakeMqarWorkload(const MqarOptions& options);

// A seed for one independent stream (e.g. one number of pairs) derived from
// a run's seed, so rows do not depend on which other rows a run measures.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_MQAR_WORKLOAD_H_
