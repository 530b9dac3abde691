// Unit and property tests of engines/state: KvBlockPool accounting (blocks
// plus fixed charges never exceed the budget, exhaustion names the engine,
// everything comes back), KvBlockTable slot addressing, PagedKvCache and
// RingWindowKv growth and byte predictions, FixedState charging.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "engines/state/fixed_state.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "engines/state/paged_kv_cache.h"
#include "engines/state/ring_window_kv.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

// --- KvBlockPool
// --------------------------------------------------------------

TEST(KvBlockPoolTest, AllocatesUpToTheBudgetThenExhaustsNamingTheEngine) {
  KvBlockPool pool("my_engine", /*budget_bytes=*/10 * 256, /*block_bytes=*/256);
  EXPECT_EQ(pool.total_blocks(), 10);
  EXPECT_EQ(pool.block_bytes(), 256);
  EXPECT_EQ(pool.budget_bytes(), 2560);
  EXPECT_EQ(pool.engine_name(), "my_engine");
  std::set<float*> blocks;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<float*> block = pool.AllocateBlock();
    ASSERT_TRUE(block.ok()) << block.status();
    // Writable over its whole size (ASan checks the extent) and 64-aligned.
    std::fill(*block, *block + 256 / 4, static_cast<float>(i));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*block) % 64, 0u);
    EXPECT_TRUE(blocks.insert(*block).second) << "block handed out twice";
    EXPECT_EQ(pool.used_blocks(), i + 1);
    EXPECT_EQ(pool.used_bytes(), (i + 1) * 256);
  }
  absl::StatusOr<float*> over = pool.AllocateBlock();
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("my_engine"));
  EXPECT_EQ(pool.used_bytes(), 2560);  // a failure takes nothing
  for (float* block : blocks) pool.FreeBlock(block);
  EXPECT_EQ(pool.used_bytes(), 0);
  EXPECT_EQ(pool.used_blocks(), 0);
}

TEST(KvBlockPoolTest, FreedBlocksAreReused) {
  KvBlockPool pool("e", 3 * 64, 64);
  float* a = *pool.AllocateBlock();
  float* b = *pool.AllocateBlock();
  pool.FreeBlock(a);
  EXPECT_EQ(pool.used_blocks(), 1);
  absl::StatusOr<float*> again = pool.AllocateBlock();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, a) << "a freed block should come back from the free list";
  pool.FreeBlock(*again);
  pool.FreeBlock(b);
  EXPECT_EQ(pool.used_bytes(), 0);
}

TEST(KvBlockPoolTest, BudgetNotAMultipleOfTheBlockRoundsDown) {
  KvBlockPool pool("e", 100, 64);
  EXPECT_EQ(pool.total_blocks(), 1);
  float* a = *pool.AllocateBlock();
  EXPECT_EQ(pool.AllocateBlock().status().code(),
            absl::StatusCode::kResourceExhausted);
  pool.FreeBlock(a);
}

TEST(KvBlockPoolTest, FixedChargesShareTheBudgetWithBlocks) {
  KvBlockPool pool("fixed_engine", 1000, 64);
  ASSERT_TRUE(pool.ChargeFixed(1000 - 63).ok());
  EXPECT_EQ(pool.used_bytes(), 937);
  EXPECT_EQ(pool.used_blocks(), 0);
  // 63 bytes left: no block fits.
  absl::StatusOr<float*> block = pool.AllocateBlock();
  EXPECT_EQ(block.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(block.status().message(), HasSubstr("fixed_engine"));
  // A charge that fits exactly succeeds; one more byte does not.
  absl::Status over = pool.ChargeFixed(64);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(), HasSubstr("fixed_engine"));
  EXPECT_EQ(pool.used_bytes(), 937);
  ASSERT_TRUE(pool.ChargeFixed(63).ok());
  EXPECT_EQ(pool.used_bytes(), 1000);
  pool.ReleaseFixed(63);
  pool.ReleaseFixed(937);
  EXPECT_EQ(pool.used_bytes(), 0);
  // With the charge gone, blocks fit again.
  std::vector<float*> blocks;
  while (true) {
    absl::StatusOr<float*> b = pool.AllocateBlock();
    if (!b.ok()) break;
    blocks.push_back(*b);
  }
  EXPECT_EQ(static_cast<int64_t>(blocks.size()), pool.total_blocks());
  for (float* b : blocks) pool.FreeBlock(b);
  EXPECT_EQ(pool.used_bytes(), 0);
}

// Property: any sequence of allocations, frees, charges and releases keeps
// used_bytes() equal to a model of what is held, never above the budget;
// each request fails exactly when the model says it cannot fit; and when
// everything is returned the pool is empty.
TEST(KvBlockPoolTest, RandomOperationSequencesKeepExactAccounting) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t block_bytes = 4 * (1 + rng() % 64);
    const int64_t budget = 1 + rng() % (block_bytes * 40);
    KvBlockPool pool("prop_engine", budget, block_bytes);
    std::vector<float*> held_blocks;
    std::vector<int64_t> held_charges;
    int64_t model_used = 0, failures = 0;
    for (int op = 0; op < 4000; ++op) {
      const int kind = static_cast<int>(rng() % 4);
      if (kind == 0) {
        absl::StatusOr<float*> b = pool.AllocateBlock();
        const bool fits = model_used + block_bytes <= budget;
        ASSERT_EQ(b.ok(), fits) << "seed " << seed << " op " << op;
        if (b.ok()) {
          (*b)[0] = 1.0f;
          (*b)[block_bytes / 4 - 1] = 2.0f;
          held_blocks.push_back(*b);
          model_used += block_bytes;
        } else {
          ++failures;
          ASSERT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
          ASSERT_THAT(b.status().message(), HasSubstr("prop_engine"));
        }
      } else if (kind == 1 && !held_blocks.empty()) {
        const size_t i = rng() % held_blocks.size();
        pool.FreeBlock(held_blocks[i]);
        held_blocks[i] = held_blocks.back();
        held_blocks.pop_back();
        model_used -= block_bytes;
      } else if (kind == 2) {
        const int64_t bytes = 1 + rng() % (block_bytes * 3);
        absl::Status s = pool.ChargeFixed(bytes);
        ASSERT_EQ(s.ok(), model_used + bytes <= budget)
            << "seed " << seed << " op " << op;
        if (s.ok()) {
          held_charges.push_back(bytes);
          model_used += bytes;
        } else {
          ++failures;
          ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
        }
      } else if (kind == 3 && !held_charges.empty()) {
        const size_t i = rng() % held_charges.size();
        pool.ReleaseFixed(held_charges[i]);
        model_used -= held_charges[i];
        held_charges[i] = held_charges.back();
        held_charges.pop_back();
      }
      ASSERT_EQ(pool.used_bytes(), model_used) << "seed " << seed;
      ASSERT_EQ(pool.used_blocks(), static_cast<int64_t>(held_blocks.size()));
      ASSERT_LE(pool.used_bytes(), budget);
    }
    EXPECT_GT(failures, 0) << "seed " << seed << " never reached the budget";
    for (float* b : held_blocks) pool.FreeBlock(b);
    for (int64_t c : held_charges) pool.ReleaseFixed(c);
    EXPECT_EQ(pool.used_bytes(), 0);
    EXPECT_EQ(pool.used_blocks(), 0);
  }
}

// The pool is shared by sessions stepped from several threads: concurrent
// traffic never exceeds the budget and leaks nothing.
TEST(KvBlockPoolTest, ConcurrentAllocAndFreeStayWithinBudget) {
  KvBlockPool pool("mt_engine", 16 * 128, 128);
  std::atomic<bool> over_budget{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &pool, &over_budget] {
      std::mt19937_64 rng(t);
      std::vector<float*> mine;
      int64_t charged = 0;
      for (int op = 0; op < 3000; ++op) {
        if (rng() % 2 == 0) {
          absl::StatusOr<float*> b = pool.AllocateBlock();
          if (b.ok()) mine.push_back(*b);
        } else if (!mine.empty()) {
          pool.FreeBlock(mine.back());
          mine.pop_back();
        }
        if (op % 7 == 0 && pool.ChargeFixed(40).ok()) charged += 40;
        if (op % 11 == 0 && charged > 0) {
          pool.ReleaseFixed(40);
          charged -= 40;
        }
        if (pool.used_bytes() > pool.budget_bytes()) over_budget = true;
      }
      for (float* b : mine) pool.FreeBlock(b);
      if (charged > 0) pool.ReleaseFixed(charged);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_FALSE(over_budget);
  EXPECT_EQ(pool.used_bytes(), 0);
  EXPECT_EQ(pool.used_blocks(), 0);
}

// --- KvBlockTable
// -------------------------------------------------------------

constexpr int kLayers = 2;
constexpr int kKvDim = 3;
constexpr int kBlockTokens = 4;

int64_t TableBlockBytes() {
  return KvBlockTable::BlockBytes(kLayers, kKvDim, kBlockTokens);
}

TEST(KvBlockTableTest, BlockBytesCoversKeysAndValuesOfEveryLayer) {
  EXPECT_EQ(TableBlockBytes(), 4 * 2 * kLayers * kKvDim * kBlockTokens);
}

// Every (layer, key/value, slot) row is distinct memory, rows of one block
// follow each other, and what is written is read back across blocks.
TEST(KvBlockTableTest, SlotsAddressDistinctRowsAcrossBlocks) {
  KvBlockPool pool("table_engine", 100 * TableBlockBytes(), TableBlockBytes());
  KvBlockTable table(&pool, kLayers, kKvDim, kBlockTokens);
  EXPECT_EQ(table.num_blocks(), 0);
  ASSERT_TRUE(table.EnsureSlots(10).ok());
  EXPECT_EQ(table.num_blocks(), 3);
  EXPECT_EQ(table.capacity_slots(), 12);
  EXPECT_EQ(table.bytes(), 3 * TableBlockBytes());
  EXPECT_EQ(pool.used_bytes(), table.bytes());
  EXPECT_EQ(table.BlocksFor(0), 0);
  EXPECT_EQ(table.BlocksFor(4), 1);
  EXPECT_EQ(table.BlocksFor(5), 2);

  const int64_t slots = table.capacity_slots();
  auto code = [](int l, int kind, int64_t s, int i) {
    return static_cast<float>(((l * 2 + kind) * 100 + s) * 10 + i);
  };
  for (int l = 0; l < kLayers; ++l) {
    for (int64_t s = 0; s < slots; ++s) {
      for (int i = 0; i < kKvDim; ++i) {
        table.Key(l, s)[i] = code(l, 0, s, i);
        table.Value(l, s)[i] = code(l, 1, s, i);
      }
    }
  }
  const KvBlockTable& ro = table;
  for (int l = 0; l < kLayers; ++l) {
    for (int64_t s = 0; s < slots; ++s) {
      for (int i = 0; i < kKvDim; ++i) {
        ASSERT_EQ(ro.Key(l, s)[i], code(l, 0, s, i));
        ASSERT_EQ(ro.Value(l, s)[i], code(l, 1, s, i));
      }
      const int64_t b = s / kBlockTokens, row = s % kBlockTokens;
      EXPECT_EQ(ro.BlockKeys(l, b) + row * kKvDim, ro.Key(l, s));
      EXPECT_EQ(ro.BlockValues(l, b) + row * kKvDim, ro.Value(l, s));
    }
  }
  // Idempotent and never shrinking.
  ASSERT_TRUE(table.EnsureSlots(5).ok());
  ASSERT_TRUE(table.EnsureSlots(12).ok());
  EXPECT_EQ(table.num_blocks(), 3);
  ASSERT_TRUE(table.EnsureSlots(13).ok());
  EXPECT_EQ(table.num_blocks(), 4);
}

TEST(KvBlockTableTest, ExhaustionKeepsWhatWasTakenAndDestructionFreesIt) {
  KvBlockPool pool("small_engine", 2 * TableBlockBytes(), TableBlockBytes());
  {
    KvBlockTable table(&pool, kLayers, kKvDim, kBlockTokens);
    absl::Status s = table.EnsureSlots(9);  // needs 3 blocks
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(s.message(), HasSubstr("small_engine"));
    EXPECT_EQ(table.num_blocks(), 2);
    EXPECT_EQ(pool.used_bytes(), 2 * TableBlockBytes());
  }
  EXPECT_EQ(pool.used_bytes(), 0);
}

TEST(KvBlockTableTest, MoveTransfersBlocksWithoutDoubleFree) {
  KvBlockPool pool("e", 10 * TableBlockBytes(), TableBlockBytes());
  {
    KvBlockTable a(&pool, kLayers, kKvDim, kBlockTokens);
    ASSERT_TRUE(a.EnsureSlots(6).ok());
    a.Key(1, 5)[2] = 42.0f;
    KvBlockTable b(std::move(a));
    EXPECT_EQ(b.num_blocks(), 2);
    EXPECT_EQ(b.Key(1, 5)[2], 42.0f);
    EXPECT_EQ(pool.used_blocks(), 2);
  }
  EXPECT_EQ(pool.used_bytes(), 0);
  EXPECT_EQ(pool.used_blocks(), 0);
}

TEST(KvBlockTableTest, CopyFromDuplicatesEveryBlockIndependently) {
  KvBlockPool pool("copy_engine", 5 * TableBlockBytes(), TableBlockBytes());
  KvBlockTable source(&pool, kLayers, kKvDim, kBlockTokens);
  ASSERT_TRUE(source.EnsureSlots(7).ok());  // 2 blocks
  for (int64_t s = 0; s < source.capacity_slots(); ++s) {
    source.Key(1, s)[0] = static_cast<float>(s);
    source.Value(0, s)[2] = static_cast<float>(-s);
  }
  {
    KvBlockTable copy(&pool, kLayers, kKvDim, kBlockTokens);
    ASSERT_TRUE(copy.CopyFrom(source).ok());
    EXPECT_EQ(copy.num_blocks(), source.num_blocks());
    EXPECT_EQ(pool.used_blocks(), 4);
    for (int64_t s = 0; s < copy.capacity_slots(); ++s) {
      ASSERT_EQ(copy.Key(1, s)[0], float(s));
      ASSERT_EQ(copy.Value(0, s)[2], float(-s));
      ASSERT_NE(copy.Key(1, s), source.Key(1, s)) << "copy shares memory";
    }
    copy.Key(1, 3)[0] = 100.0f;
    EXPECT_EQ(source.Key(1, 3)[0], 3.0f);
    // A second copy runs out of budget part way (1 block left of 2):
    // RESOURCE_EXHAUSTED, and what it took comes back when it dies.
    KvBlockTable partial(&pool, kLayers, kKvDim, kBlockTokens);
    absl::Status s = partial.CopyFrom(source);
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(s.message(), HasSubstr("copy_engine"));
    EXPECT_LE(pool.used_bytes(), pool.budget_bytes());
  }
  EXPECT_EQ(pool.used_blocks(), 2);
}

// --- PagedKvCache
// --------------------------------------------------------------

TEST(PagedKvCacheTest, GrowsOneBlockAtATimeAndPredictsItsBytes) {
  const int block_tokens = 16, layers = 1, kv_dim = 8;
  const int64_t block_bytes =
      KvBlockTable::BlockBytes(layers, kv_dim, block_tokens);
  KvBlockPool pool("paged", 1000 * block_bytes, block_bytes);
  PagedKvCache cache(&pool, layers, kv_dim, block_tokens);
  EXPECT_EQ(cache.bytes(), 0);
  std::map<int64_t, int64_t> predicted;  // tokens -> predicted bytes
  for (int64_t t = 0; t < 100; ++t) {
    for (int64_t k : {1, 7, 16, 33}) {
      const int64_t at = t + k;
      const int64_t bytes = cache.bytes_after(k);
      auto [it, fresh] = predicted.emplace(at, bytes);
      ASSERT_EQ(it->second, bytes) << "predictions disagree at " << at;
    }
    ASSERT_TRUE(cache.Reserve(1).ok());
    EXPECT_EQ(cache.next_slot(), t);
    EXPECT_EQ(cache.held_after(), t + 1);
    cache.table().Key(0, cache.next_slot())[0] = static_cast<float>(t);
    cache.Advance();
    EXPECT_EQ(cache.tokens(), t + 1);
    const int64_t want =
        (t + 1 + block_tokens - 1) / block_tokens * block_bytes;
    ASSERT_EQ(cache.bytes(), want) << "after " << t + 1 << " tokens";
    ASSERT_EQ(cache.bytes_after(0), want);
    ASSERT_EQ(predicted.at(t + 1), want) << "prediction for " << t + 1;
    EXPECT_EQ(pool.used_bytes(), cache.bytes());
  }
  for (int64_t t = 0; t < 100; ++t) EXPECT_EQ(cache.table().Key(0, t)[0], t);
}

TEST(PagedKvCacheTest, ReservingAheadIsCountedInBytesAfter) {
  const int64_t block_bytes = KvBlockTable::BlockBytes(1, 4, 8);
  KvBlockPool pool("paged", 100 * block_bytes, block_bytes);
  PagedKvCache cache(&pool, 1, 4, 8);
  ASSERT_TRUE(cache.Reserve(40).ok());  // 5 blocks up front
  EXPECT_EQ(cache.bytes(), 5 * block_bytes);
  EXPECT_EQ(cache.bytes_after(1), 5 * block_bytes);
  EXPECT_EQ(cache.bytes_after(41), 6 * block_bytes);
  EXPECT_EQ(cache.tokens(), 0);
}

TEST(PagedKvCacheTest, ReserveFailsWhenThePoolIsSpent) {
  const int64_t block_bytes = KvBlockTable::BlockBytes(1, 4, 8);
  KvBlockPool pool("tiny_paged", 2 * block_bytes, block_bytes);
  PagedKvCache cache(&pool, 1, 4, 8);
  ASSERT_TRUE(cache.Reserve(16).ok());
  absl::Status s = cache.Reserve(17);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("tiny_paged"));
  EXPECT_EQ(cache.bytes(), 2 * block_bytes);
}

TEST(PagedKvCacheTest, CopyFromContinuesAtTheSamePosition) {
  const int64_t block_bytes = KvBlockTable::BlockBytes(1, 2, 4);
  KvBlockPool pool("paged", 100 * block_bytes, block_bytes);
  PagedKvCache source(&pool, 1, 2, 4);
  for (int t = 0; t < 9; ++t) {
    ASSERT_TRUE(source.Reserve(1).ok());
    source.table().Key(0, source.next_slot())[1] = static_cast<float>(t);
    source.Advance();
  }
  PagedKvCache copy(&pool, 1, 2, 4);
  ASSERT_TRUE(copy.CopyFrom(source).ok());
  EXPECT_EQ(copy.tokens(), 9);
  EXPECT_EQ(copy.next_slot(), 9);
  EXPECT_EQ(copy.bytes(), source.bytes());
  EXPECT_EQ(copy.bytes_after(7), source.bytes_after(7));
  for (int t = 0; t < 9; ++t) EXPECT_EQ(copy.table().Key(0, t)[1], float(t));
  EXPECT_EQ(pool.used_bytes(), 2 * source.bytes());
}

// --- RingWindowKv
// --------------------------------------------------------------

TEST(RingWindowKvTest, WrapsAroundAndStopsGrowingAtTheWindow) {
  const int block_tokens = 4, window = 10, layers = 2, kv_dim = 2;
  const int64_t block_bytes =
      KvBlockTable::BlockBytes(layers, kv_dim, block_tokens);
  KvBlockPool pool("ring", 100 * block_bytes, block_bytes);
  RingWindowKv ring(&pool, layers, kv_dim, block_tokens, window);
  EXPECT_EQ(ring.window(), window);
  const int64_t full = 3 * block_bytes;  // ceil(10 / 4) blocks
  EXPECT_EQ(ring.bytes_after(1000000), full);
  std::map<int64_t, int64_t> predicted;
  for (int64_t t = 0; t < 35; ++t) {
    for (int64_t k : {1, 3, 9, 20}) {
      auto [it, fresh] = predicted.emplace(t + k, ring.bytes_after(k));
      ASSERT_EQ(it->second, ring.bytes_after(k));
    }
    ASSERT_TRUE(ring.Reserve(1).ok());
    ASSERT_EQ(ring.next_slot(), t % window);
    ASSERT_EQ(ring.held_after(), std::min<int64_t>(window, t + 1));
    ring.table().Value(1, ring.next_slot())[1] = static_cast<float>(t);
    ring.Advance();
    const int64_t want = (std::min<int64_t>(t + 1, window) + block_tokens - 1) /
                         block_tokens * block_bytes;
    ASSERT_EQ(ring.bytes(), want) << "after " << t + 1 << " tokens";
    ASSERT_EQ(predicted.at(t + 1), want);
    ASSERT_LE(ring.table().capacity_slots(), 12);
  }
  // Slot s holds the newest token congruent to s: tokens 25..34.
  for (int s = 0; s < window; ++s) {
    const int64_t newest = 25 + ((s - 25 % window) + window) % window;
    EXPECT_EQ(ring.table().Value(1, s)[1], float(newest)) << "slot " << s;
  }
  // Reserving far ahead never takes more than the window.
  ASSERT_TRUE(ring.Reserve(1000).ok());
  EXPECT_EQ(ring.bytes(), full);
  EXPECT_EQ(pool.used_bytes(), full);
}

TEST(RingWindowKvTest, CopyFromKeepsTheRingPosition) {
  const int64_t block_bytes = KvBlockTable::BlockBytes(1, 2, 4);
  KvBlockPool pool("ring", 100 * block_bytes, block_bytes);
  RingWindowKv source(&pool, 1, 2, 4, /*window=*/6);
  for (int t = 0; t < 15; ++t) {
    ASSERT_TRUE(source.Reserve(1).ok());
    source.table().Value(0, source.next_slot())[0] = static_cast<float>(t);
    source.Advance();
  }
  RingWindowKv copy(&pool, 1, 2, 4, 6);
  ASSERT_TRUE(copy.CopyFrom(source).ok());
  EXPECT_EQ(copy.tokens(), 15);
  EXPECT_EQ(copy.next_slot(), source.next_slot());
  EXPECT_EQ(copy.held_after(), 6);
  EXPECT_EQ(copy.bytes(), source.bytes());
  for (int s = 0; s < 6; ++s) {
    EXPECT_EQ(copy.table().Value(0, s)[0], source.table().Value(0, s)[0]);
  }
}

TEST(RingWindowKvTest, WindowSmallerThanABlockTakesOneBlock) {
  const int64_t block_bytes = KvBlockTable::BlockBytes(1, 4, 16);
  KvBlockPool pool("ring", 10 * block_bytes, block_bytes);
  RingWindowKv ring(&pool, 1, 4, 16, /*window=*/3);
  for (int t = 0; t < 20; ++t) {
    ASSERT_TRUE(ring.Reserve(1).ok());
    ring.Advance();
  }
  EXPECT_EQ(ring.bytes(), block_bytes);
  EXPECT_EQ(ring.held_after(), 3);
  EXPECT_EQ(ring.next_slot(), 20 % 3);
}

// --- FixedState
// -----------------------------------------------------------------

TEST(FixedStateTest, ChargesThePoolForItsLifeAndStartsZeroed) {
  KvBlockPool pool("fixed", 4096, 64);
  {
    absl::StatusOr<FixedState> s = FixedState::Create(&pool, 100);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->floats(), 100);
    EXPECT_EQ(s->bytes(), 400);
    EXPECT_EQ(pool.used_bytes(), 400);
    EXPECT_EQ(pool.used_blocks(), 0);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(s->data()[i], 0.0f);
    s->data()[99] = 1.0f;
  }
  EXPECT_EQ(pool.used_bytes(), 0);
}

TEST(FixedStateTest, MoveReleasesExactlyOnce) {
  KvBlockPool pool("fixed", 4096, 64);
  {
    absl::StatusOr<FixedState> a = FixedState::Create(&pool, 10);
    ASSERT_TRUE(a.ok());
    a->data()[3] = 7.0f;
    {
      FixedState b(*std::move(a));
      EXPECT_EQ(b.data()[3], 7.0f);
      EXPECT_EQ(pool.used_bytes(), 40);
      FixedState c(std::move(b));
      EXPECT_EQ(c.bytes(), 40);
      EXPECT_EQ(pool.used_bytes(), 40);
    }
    EXPECT_EQ(pool.used_bytes(), 0);  // released by the last owner only
  }
  EXPECT_EQ(pool.used_bytes(), 0);  // the moved-from shells release nothing
}

TEST(FixedStateTest, CopyFromCopiesContentsAndChargesBoth) {
  KvBlockPool pool("fixed", 4096, 64);
  absl::StatusOr<FixedState> a = FixedState::Create(&pool, 16);
  absl::StatusOr<FixedState> b = FixedState::Create(&pool, 16);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 16; ++i) a->data()[i] = static_cast<float>(i * i);
  b->CopyFrom(*a);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(b->data()[i], float(i * i));
  b->data()[5] = -1.0f;
  EXPECT_EQ(a->data()[5], 25.0f);
  EXPECT_EQ(pool.used_bytes(), 2 * 16 * 4);
}

TEST(FixedStateTest, TooLargeIsResourceExhaustedAndChargesNothing) {
  KvBlockPool pool("fixed_engine", 1000, 64);
  absl::StatusOr<FixedState> fits = FixedState::Create(&pool, 200);
  ASSERT_TRUE(fits.ok());
  absl::StatusOr<FixedState> too_big = FixedState::Create(&pool, 51);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr("fixed_engine"));
  EXPECT_EQ(pool.used_bytes(), 800);
  absl::StatusOr<FixedState> exact = FixedState::Create(&pool, 50);
  EXPECT_TRUE(exact.ok());
  EXPECT_EQ(pool.used_bytes(), 1000);
}

}  // namespace
}  // namespace trilemma
