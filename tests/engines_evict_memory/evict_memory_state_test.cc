// The state classes behind kv_evict and memory: which token each eviction
// policy drops (the numpy references rely on these exact choices), and the
// external store's search, growth, byte accounting and distance counting.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "engines/ops/kv_quant.h"
#include "engines/ops/vector_ops.h"
#include "engines/state/evicting_kv.h"
#include "engines/state/external_kv_store.h"
#include "engines/state/kv_block_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::ElementsAre;

constexpr int kLayers = 2;
constexpr int kKvDim = 4;

int64_t BlockBytes(int block_tokens) {
  return KvBlockTable::BlockBytes(kLayers, kKvDim, block_tokens);
}

TEST(SinkWindowKvTest, KeepsSinksAndRingsTheRest) {
  KvBlockPool pool("sinks", 1 << 20, BlockBytes(2));
  SinkWindowKv kv(&pool, kLayers, kKvDim, 2, /*sinks=*/2, /*window=*/3);
  std::vector<int64_t> slots, held;
  for (int t = 0; t < 10; ++t) {
    ASSERT_TRUE(kv.Reserve(1).ok());
    slots.push_back(kv.next_slot());
    held.push_back(kv.held_after());
    kv.Advance();
  }
  EXPECT_THAT(slots, ElementsAre(0, 1, 2, 3, 4, 2, 3, 4, 2, 3));
  EXPECT_THAT(held, ElementsAre(1, 2, 3, 4, 5, 5, 5, 5, 5, 5));
  EXPECT_EQ(kv.bytes(), 3 * BlockBytes(2));  // ceil(5 / 2) blocks, then flat
  EXPECT_EQ(kv.bytes_after(100), kv.bytes());
}

TEST(SinkWindowKvTest, NoSinksIsASlidingWindow) {
  KvBlockPool pool("sinks", 1 << 20, BlockBytes(4));
  SinkWindowKv kv(&pool, kLayers, kKvDim, 4, /*sinks=*/0, /*window=*/3);
  std::vector<int64_t> slots;
  for (int t = 0; t < 7; ++t) {
    ASSERT_TRUE(kv.Reserve(1).ok());
    slots.push_back(kv.next_slot());
    kv.Advance();
  }
  EXPECT_THAT(slots, ElementsAre(0, 1, 2, 0, 1, 2, 0));
}

// Steps a HeavyHitterKv through one token whose attention over the held
// slots is `probs` (already summed over heads; one layer). Returns the slot
// the token was written to.
int64_t StepWithAttention(HeavyHitterKv& kv, std::vector<float> probs) {
  EXPECT_TRUE(kv.Reserve(1).ok());
  const int64_t slot = kv.next_slot();
  EXPECT_EQ(static_cast<int64_t>(probs.size()), kv.held_after());
  kv.ObserveAttention(0, probs.data(), kv.held_after());
  kv.Advance();
  return slot;
}

TEST(HeavyHitterKvTest, EvictsTheLightestOldTokenTiesToTheOldest) {
  KvBlockPool pool("h2o", 1 << 20, BlockBytes(2));
  HeavyHitterKv kv = HeavyHitterKv::Create(&pool, kLayers, kKvDim, 2,
                                           /*budget=*/4, /*recent=*/2)
                         .value();
  // Positions 0..3 fill slots 0..3; masses become 1.6, 0.6, 0.8, 1.0.
  EXPECT_EQ(StepWithAttention(kv, {1.0f}), 0);
  EXPECT_EQ(StepWithAttention(kv, {0.5f, 0.5f}), 1);
  EXPECT_EQ(StepWithAttention(kv, {0.1f, 0.1f, 0.8f}), 2);
  EXPECT_EQ(StepWithAttention(kv, {0.0f, 0.0f, 0.0f, 1.0f}), 3);
  // Position 4: candidates are positions <= 4 - 2 = {0, 1, 2}; position 1
  // (slot 1) is the lightest.
  EXPECT_EQ(kv.next_slot(), 1);
  EXPECT_EQ(StepWithAttention(kv, {0.0f, 1.0f, 0.0f, 0.0f}), 1);
  EXPECT_EQ(kv.position(1), 4);
  // Masses: pos0 1.6, pos4 1.0, pos2 0.8, pos3 1.0 -> evict position 2.
  EXPECT_EQ(StepWithAttention(kv, {0.0f, 0.0f, 0.6f, 0.0f}), 2);
  EXPECT_EQ(kv.position(2), 5);
  // Position 6: position 5 (0.6) is the lightest but recent; positions 3 and
  // 4 tie at 1.0, so the older, 3 (slot 3), goes.
  EXPECT_EQ(kv.next_slot(), 3);
  EXPECT_EQ(kv.mass(3), 0.0);  // reset for the incoming token
  EXPECT_EQ(StepWithAttention(kv, {0.0f, 0.0f, 0.0f, 0.0f}), 3);
  // Position 7: candidates <= 5: pos0 1.6, pos4 1.0, pos5 0.6 -> slot 2.
  EXPECT_EQ(kv.next_slot(), 2);
}

TEST(HeavyHitterKvTest, RecentEqualToBudgetIsASlidingWindow) {
  KvBlockPool pool("h2o", 1 << 20, BlockBytes(3));
  HeavyHitterKv kv =
      HeavyHitterKv::Create(&pool, kLayers, kKvDim, 3, 3, 3).value();
  std::vector<int64_t> slots;
  for (int t = 0; t < 8; ++t) {
    std::vector<float> probs(kv.held_after(), 0.0f);
    probs[0] = 5.0f;  // heavy, but never protected from leaving the window
    slots.push_back(StepWithAttention(kv, probs));
  }
  EXPECT_THAT(slots, ElementsAre(0, 1, 2, 0, 1, 2, 0, 1));
}

TEST(HeavyHitterKvTest, BookkeepingIsChargedToThePool) {
  const int64_t fixed = HeavyHitterKv::FixedBytes(6);
  EXPECT_EQ(fixed, 6 * 16);
  KvBlockPool pool("h2o_pool", 1 << 20, BlockBytes(4));
  {
    absl::StatusOr<HeavyHitterKv> created =
        HeavyHitterKv::Create(&pool, kLayers, kKvDim, 4, 6, 2);
    ASSERT_TRUE(created.ok());
    HeavyHitterKv kv = *std::move(created);  // the charge moves along
    EXPECT_EQ(pool.used_bytes(), fixed);
    EXPECT_EQ(kv.bytes(), fixed);
    EXPECT_EQ(kv.bytes_after(5), fixed + 2 * BlockBytes(4));
    ASSERT_TRUE(kv.Reserve(5).ok());
    EXPECT_EQ(kv.bytes(), fixed + 2 * BlockBytes(4));
    EXPECT_EQ(pool.used_bytes(), kv.bytes());
    EXPECT_EQ(kv.bytes_after(1000), kv.bytes());  // 6 slots fit in 2 blocks
  }
  EXPECT_EQ(pool.used_bytes(), 0);

  KvBlockPool tiny("h2o_tiny", fixed - 1, BlockBytes(4));
  absl::StatusOr<HeavyHitterKv> refused =
      HeavyHitterKv::Create(&tiny, kLayers, kKvDim, 4, 6, 2);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("h2o_tiny"));
  EXPECT_EQ(tiny.used_bytes(), 0);
}

std::vector<float> Unit(int dim, int i, float scale = 1.0f) {
  std::vector<float> v(dim, 0.0f);
  v[i] = scale;
  return v;
}

TEST(ExternalKvStoreTest, ExactSearchRanksByInnerProductTiesToTheOlder) {
  ExternalKvStore store({.dim = 4, .index = ExternalKvIndex::kExact});
  ASSERT_TRUE(store.Reserve(5).ok());
  const std::vector<std::vector<float>> keys = {
      Unit(4, 0), Unit(4, 1), Unit(4, 0), Unit(4, 0, 0.5f), Unit(4, 0, 2.0f)};
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::vector<float> value = Unit(4, i % 4, static_cast<float>(i));
    ASSERT_TRUE(store.Append(keys[i].data(), value.data()).ok());
  }
  ASSERT_EQ(store.size(), 5);
  float scratch[4];
  EXPECT_EQ(store.value(3, scratch)[3], 3.0f);
  EXPECT_EQ(store.key(4, scratch)[0], 2.0f);
  int64_t ids[8];
  const std::vector<float> q = Unit(4, 0);
  ASSERT_EQ(store.Search(q.data(), 3, ids), 3);
  EXPECT_THAT(std::vector<int64_t>(ids, ids + 3), ElementsAre(4, 0, 2));
  ASSERT_EQ(store.Search(q.data(), 2, ids), 2);
  EXPECT_THAT(std::vector<int64_t>(ids, ids + 2), ElementsAre(4, 0));
  EXPECT_EQ(store.Search(q.data(), 8, ids), 5);     // fewer entries than k
  EXPECT_EQ(store.TakeDistanceComputations(), 15);  // three scans of 5
  EXPECT_EQ(store.TakeDistanceComputations(), 0);
}

TEST(ExternalKvStoreTest, CapacityDoublesTheSameWayWhateverTheReserves) {
  ExternalKvStore stepwise({.dim = 8}), at_once({.dim = 8});
  EXPECT_EQ(stepwise.bytes(), 0);
  const std::vector<float> row(8, 1.0f);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(stepwise.Reserve(i + 1).ok());
    ASSERT_TRUE(stepwise.Append(row.data(), row.data()).ok());
  }
  ASSERT_TRUE(at_once.Reserve(600).ok());
  EXPECT_EQ(stepwise.capacity(), 1024);  // 256 -> 512 -> 1024
  EXPECT_EQ(at_once.capacity(), 1024);
  EXPECT_EQ(stepwise.bytes(), at_once.bytes());
  EXPECT_EQ(stepwise.bytes(), 1024 * 8 * 4 * 2);  // keys and values
  EXPECT_EQ(ExternalKvStore::BytesPerEntry({.dim = 8}), 64);
  EXPECT_TRUE(stepwise.Reserve(-5).ok());
}

TEST(ExternalKvStoreTest, HnswFindsStoredKeysAndCountsItsProducts) {
  constexpr int kDim = 16, kEntries = 3000;
  ExternalKvStoreOptions options{.dim = kDim,
                                 .index = ExternalKvIndex::kHnsw,
                                 .hnsw_m = 8,
                                 .ef_construction = 40,
                                 .ef = 16};
  ExternalKvStore store(options);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> keys(kEntries * kDim);
  for (int i = 0; i < kEntries; ++i) {
    float* k = &keys[i * kDim];
    float norm = 0;
    for (int j = 0; j < kDim; ++j) {
      k[j] = normal(rng);
      norm += k[j] * k[j];
    }
    for (int j = 0; j < kDim; ++j) k[j] /= std::sqrt(norm);
  }
  int64_t inserted = 0;
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_TRUE(store.Reserve(i + 1).ok());
    ASSERT_TRUE(store.Append(&keys[i * kDim], &keys[i * kDim]).ok());
    inserted += store.TakeDistanceComputations();
  }
  EXPECT_GT(inserted, kEntries);  // inserting searches the graph
  float scratch[kDim];
  EXPECT_EQ(store.key(123, scratch)[5], keys[123 * kDim + 5]);
  int hits = 0;
  int64_t products = 0;
  for (int i = 0; i < kEntries; i += 10) {
    int64_t id = -1;
    ASSERT_EQ(store.Search(&keys[i * kDim], 1, &id), 1);
    hits += id == i;
    products += store.TakeDistanceComputations();
  }
  EXPECT_GE(hits, 0.95 * kEntries / 10);
  // The point of the index: far fewer products than a scan.
  EXPECT_LT(products / (kEntries / 10), kEntries / 4);
  EXPECT_GT(products, 0);
  // Index overhead is accounted: at least the level-0 records of the
  // capacity and hnswlib's fixed lock table.
  EXPECT_GE(store.bytes(),
            store.capacity() * (8 * 2 * 4 + 4 + 4 * kDim + 8 + 4 * kDim) +
                65536 * int64_t{sizeof(std::mutex)});
  // A copy rebuilds the same graph: same bytes, same answers and costs.
  ExternalKvStore copy(options);
  ASSERT_TRUE(copy.CopyFrom(store).ok());
  EXPECT_EQ(copy.TakeDistanceComputations(), 0);  // the rebuild is not a step
  EXPECT_EQ(copy.size(), store.size());
  EXPECT_EQ(copy.bytes(), store.bytes());
  for (int i = 1; i < kEntries; i += 97) {
    int64_t a[3], b[3];
    ASSERT_EQ(store.Search(&keys[i * kDim], 3, a), 3);
    ASSERT_EQ(copy.Search(&keys[i * kDim], 3, b), 3);
    EXPECT_THAT(std::vector<int64_t>(b, b + 3), ElementsAre(a[0], a[1], a[2]));
    EXPECT_EQ(copy.TakeDistanceComputations(),
              store.TakeDistanceComputations());
  }
  // Moving keeps the graph (and its space) usable.
  ExternalKvStore moved(std::move(store));
  int64_t id = -1;
  ASSERT_EQ(moved.Search(&keys[7 * kDim], 1, &id), 1);
  EXPECT_EQ(id, 7);
}

// A row as docs/kv_compression.md says the store keeps it, decoded: f16
// rounds each element to half; int8 scales each `width` elements by
// max|x|/127 (per row); int4 each 32 by f16(max|x|/7).
std::vector<float> ExpectedDecoded(KvDtype dtype, const std::vector<float>& x,
                                   int width) {
  std::vector<float> out(x.size());
  const auto group = [&](size_t begin, size_t n, float scale, float limit) {
    for (size_t i = begin; i < begin + n; ++i) {
      const float q =
          scale == 0 ? 0 : std::clamp(std::rint(x[i] / scale), -limit, limit);
      out[i] = scale * q;
    }
  };
  const auto abs_max = [&](size_t begin, size_t n) {
    float m = 0;
    for (size_t i = begin; i < begin + n; ++i) m = std::max(m, std::abs(x[i]));
    return m;
  };
  for (size_t begin = 0; begin < x.size();) {
    switch (dtype) {
      case KvDtype::kF32:
        return x;
      case KvDtype::kF16:
        for (size_t i = 0; i < x.size(); ++i) {
          out[i] = ops::HalfToFloat(ops::FloatToHalf(x[i]));
        }
        return out;
      case KvDtype::kInt8:
        group(begin, width, abs_max(begin, width) / 127.0f, 127);
        begin += width;
        break;
      case KvDtype::kInt4: {
        const size_t n = std::min<size_t>(32, x.size() - begin);
        group(begin, n,
              ops::HalfToFloat(ops::FloatToHalf(abs_max(begin, n) / 7.0f)), 7);
        begin += n;
        break;
      }
    }
  }
  return out;
}

TEST(ExternalKvStoreTest, CompressedRowsDecodeAsTheEquationsSay) {
  constexpr int kDim = 72, kHeadDim = 36, kEntries = 40;
  // Codes and scales per row: 4d, 2d, d + 4 per head, d/2 + 2 per 32.
  const std::map<KvDtype, int64_t> row_bytes = {{KvDtype::kF32, 288},
                                                {KvDtype::kF16, 144},
                                                {KvDtype::kInt8, 72 + 8},
                                                {KvDtype::kInt4, 36 + 6}};
  for (const auto& [dtype, bytes] : row_bytes) {
    SCOPED_TRACE(KvDtypeName(dtype));
    const ExternalKvStoreOptions options{
        .dim = kDim, .format = {.dtype = dtype, .scale_width = kHeadDim}};
    EXPECT_EQ(ExternalKvStore::RowBytes(options), bytes);
    EXPECT_EQ(ExternalKvStore::BytesPerEntry(options), 2 * bytes);
    ExternalKvStore store(options);
    ASSERT_TRUE(store.Reserve(kEntries).ok());
    EXPECT_EQ(store.bytes(), ExternalKvStore::kMinCapacity * 2 * bytes);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> keys, values;
    for (int i = 0; i < kEntries; ++i) {
      std::vector<float> k(kDim), v(kDim);
      for (int j = 0; j < kDim; ++j) {
        k[j] = normal(rng) * (j < kHeadDim ? 1.0f : 30.0f);
        v[j] = normal(rng);
      }
      ASSERT_TRUE(store.Append(k.data(), v.data()).ok());
      keys.push_back(ExpectedDecoded(dtype, k, kHeadDim));
      values.push_back(ExpectedDecoded(dtype, v, kHeadDim));
    }
    std::vector<float> scratch(kDim);
    for (int i = 0; i < kEntries; ++i) {
      const float* k = store.key(i, scratch.data());
      ASSERT_EQ(std::vector<float>(k, k + kDim), keys[i]) << i;
      const float* v = store.value(i, scratch.data());
      ASSERT_EQ(std::vector<float>(v, v + kDim), values[i]) << i;
    }
    // The scan ranks the decoded keys.
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> q(kDim);
      for (float& x : q) x = normal(rng);
      int64_t best = -1;
      ASSERT_EQ(store.Search(q.data(), 1, &best), 1);
      float best_score = -1e30f;
      int64_t expected = -1;
      for (int i = 0; i < kEntries; ++i) {
        const float score = ops::Dot(q.data(), keys[i].data(), kDim);
        if (score > best_score) best_score = score, expected = i;
      }
      EXPECT_EQ(best, expected);
    }
    // A copy holds the same codes.
    ExternalKvStore copy(options);
    ASSERT_TRUE(copy.CopyFrom(store).ok());
    EXPECT_EQ(copy.bytes(), store.bytes());
    const float* v = copy.value(kEntries - 1, scratch.data());
    EXPECT_EQ(std::vector<float>(v, v + kDim), values.back());
  }
}

// HNSW keeps float keys of its own (the decoded key), so a compressed format
// shrinks only the value row beside the graph.
TEST(ExternalKvStoreTest, HnswKeepsDecodedFloatKeysAndCompressedValues) {
  constexpr int kDim = 64;
  ExternalKvStoreOptions f32{
      .dim = kDim, .index = ExternalKvIndex::kHnsw, .hnsw_m = 4, .ef = 8};
  ExternalKvStoreOptions int8 = f32;
  int8.format = {.dtype = KvDtype::kInt8, .scale_width = 32};
  EXPECT_EQ(ExternalKvStore::BytesPerEntry(f32) -
                ExternalKvStore::BytesPerEntry(int8),
            4 * kDim - (kDim + 8));
  ExternalKvStore a(f32), b(int8);
  std::mt19937_64 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> k(kDim), v(kDim), scratch(kDim);
  for (int i = 0; i < 50; ++i) {
    for (int j = 0; j < kDim; ++j) k[j] = normal(rng), v[j] = normal(rng);
    ASSERT_TRUE(a.Reserve(i + 1).ok() && b.Reserve(i + 1).ok());
    ASSERT_TRUE(a.Append(k.data(), v.data()).ok());
    ASSERT_TRUE(b.Append(k.data(), v.data()).ok());
  }
  const float* key = b.key(49, scratch.data());
  EXPECT_EQ(std::vector<float>(key, key + kDim),
            ExpectedDecoded(KvDtype::kInt8, k, 32));
  EXPECT_NE(std::vector<float>(key, key + kDim), k);
  // Same capacity: the difference is exactly the values' codes.
  EXPECT_EQ(a.bytes() - b.bytes(),
            ExternalKvStore::kMinCapacity * (4 * kDim - (kDim + 8)));
}

}  // namespace
}  // namespace trilemma
