#include "client/common/mqar_workload.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma::client {
namespace {

using ::testing::HasSubstr;

MqarWorkload Make(int32_t vocab, int32_t pairs, int32_t queries,
                  uint64_t seed) {
  absl::StatusOr<MqarWorkload> w = MakeMqarWorkload(
      {.vocab = vocab, .pairs = pairs, .queries = queries, .seed = seed});
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *std::move(w) : MqarWorkload();
}

TEST(MqarWorkloadTest, KeysFromLowerHalfValuesFromUpperHalf) {
  const MqarWorkload w = Make(/*vocab=*/101, /*pairs=*/50, 10, 3);
  ASSERT_EQ(w.keys.size(), 50u);
  ASSERT_EQ(w.values.size(), 50u);
  for (int32_t k : w.keys) {
    EXPECT_GE(k, 0);
    EXPECT_LT(k, 50);
  }
  for (int32_t v : w.values) {
    EXPECT_GE(v, 50);
    EXPECT_LT(v, 101);
  }
}

TEST(MqarWorkloadTest, KeysAndValuesAreDistinct) {
  // All of the lower half: keys must be a permutation of [0, 64).
  const MqarWorkload w = Make(128, 64, 0, 9);
  EXPECT_EQ(std::set<int32_t>(w.keys.begin(), w.keys.end()).size(), 64u);
  EXPECT_EQ(std::set<int32_t>(w.values.begin(), w.values.end()).size(), 64u);
}

TEST(MqarWorkloadTest, ContextInterleavesPairs) {
  const MqarWorkload w = Make(8192, 16, 4, 1);
  ASSERT_EQ(w.context.size(), 32u);
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(w.context[2 * i], w.keys[i]);
    EXPECT_EQ(w.context[2 * i + 1], w.values[i]);
  }
}

TEST(MqarWorkloadTest, SameSeedSameWorkloadOtherSeedDiffers) {
  const MqarWorkload a = Make(8192, 64, 64, 42);
  const MqarWorkload b = Make(8192, 64, 64, 42);
  const MqarWorkload c = Make(8192, 64, 64, 43);
  EXPECT_EQ(a.context, b.context);
  ASSERT_EQ(a.queries.size(), b.queries.size());
  for (size_t q = 0; q < a.queries.size(); ++q) {
    EXPECT_EQ(a.queries[q].pair, b.queries[q].pair);
  }
  EXPECT_NE(a.context, c.context);
}

TEST(MqarWorkloadTest, QueriesAnswerTheirPairAndCoverEveryPairBeforeRepeating) {
  const MqarWorkload w = Make(1024, 10, 25, 5);
  ASSERT_EQ(w.queries.size(), 25u);
  std::set<int32_t> first_round, second_round;
  for (size_t q = 0; q < w.queries.size(); ++q) {
    const MqarQuery& query = w.queries[q];
    EXPECT_EQ(query.key, w.keys[query.pair]);
    EXPECT_EQ(query.value, w.values[query.pair]);
    if (q < 10) first_round.insert(query.pair);
    if (q >= 10 && q < 20) second_round.insert(query.pair);
  }
  EXPECT_EQ(first_round.size(), 10u);
  EXPECT_EQ(second_round.size(), 10u);
}

TEST(MqarWorkloadTest, DistanceCountsTokensBetweenValueAndQuery) {
  const int32_t pairs = 8;
  const MqarWorkload w = Make(1024, pairs, 20, 11);
  for (size_t q = 0; q < w.queries.size(); ++q) {
    const MqarQuery& query = w.queries[q];
    // Simulate the session context: pairs, then per earlier query its key
    // and answer; the query key lands at position 2*pairs + 2*q.
    const int64_t value_position = 2 * query.pair + 1;
    const int64_t query_position = 2 * pairs + 2 * static_cast<int64_t>(q);
    EXPECT_EQ(query.distance, query_position - value_position - 1) << q;
  }
  // The last stored pair asked first has nothing in between.
  const MqarWorkload one = Make(1024, 1, 1, 0);
  EXPECT_EQ(one.queries[0].distance, 0);
}

TEST(MqarWorkloadTest, RejectsOutOfRangeOptions) {
  EXPECT_THAT(MakeMqarWorkload({.vocab = 100, .pairs = 51, .queries = 1})
                  .status()
                  .message(),
              HasSubstr("pairs: 51 not in [1, vocab/2 = 50]"));
  EXPECT_EQ(MakeMqarWorkload({.vocab = 100, .pairs = 0, .queries = 1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MakeMqarWorkload({.vocab = 1, .pairs = 1}).status().message(),
              HasSubstr("vocab"));
  EXPECT_THAT(MakeMqarWorkload({.vocab = 10, .pairs = 1, .queries = -1})
                  .status()
                  .message(),
              HasSubstr("queries"));
}

TEST(MqarWorkloadTest, DerivedSeedsDifferPerStream) {
  EXPECT_NE(DeriveSeed(1, 16), DeriveSeed(1, 64));
  EXPECT_NE(DeriveSeed(1, 16), DeriveSeed(2, 16));
  EXPECT_EQ(DeriveSeed(7, 256), DeriveSeed(7, 256));
}

}  // namespace
}  // namespace trilemma::client
