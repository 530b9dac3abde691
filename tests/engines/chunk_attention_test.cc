// ops::AttendChunk (a prefill chunk's causal attention as dense products)
// against naive grouped-query attention in double, row by row.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engines/ops/chunk_attention.h"
#include "engines/ops/matmul.h"
#include "engines/ops/work_counter.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "gtest/gtest.h"

namespace trilemma::ops {
namespace {

struct ChunkCase {
  int q_heads, kv_heads, head_dim, block_tokens;
  int64_t first_held, rows;
  int threads;
};

class AttendChunkTest : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(AttendChunkTest, MatchesNaiveCausalGroupedAttention) {
  const ChunkCase c = GetParam();
  const int layers = 2, kv_dim = c.kv_heads * c.head_dim;
  const int q_dim = c.q_heads * c.head_dim;
  const int64_t slots = c.first_held + c.rows - 1;
  KvBlockPool pool("chunk_test", int64_t{1} << 24,
                   KvBlockTable::BlockBytes(layers, kv_dim, c.block_tokens));
  KvBlockTable kv(&pool, layers, kv_dim, c.block_tokens);
  ASSERT_TRUE(kv.EnsureSlots(slots).ok());
  std::mt19937_64 rng(c.rows * 7 + c.block_tokens);
  std::normal_distribution<float> normal;
  std::vector<float> keys(layers * slots * kv_dim),
      values(layers * slots * kv_dim), q(c.rows * q_dim);
  for (float& x : keys) x = normal(rng);
  for (float& x : values) x = normal(rng);
  for (float& x : q) x = normal(rng);
  for (int l = 0; l < layers; ++l) {
    for (int64_t s = 0; s < slots; ++s) {
      for (int i = 0; i < kv_dim; ++i) {
        kv.Key(l, s)[i] = keys[(l * slots + s) * kv_dim + i];
        kv.Value(l, s)[i] = values[(l * slots + s) * kv_dim + i];
      }
    }
  }
  std::vector<int64_t> held(c.rows);
  int64_t attended = 0;
  for (int64_t r = 0; r < c.rows; ++r) attended += held[r] = c.first_held + r;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int layer = 1;  // the second layer, so reading layer 0 shows
  SetThreads(c.threads);
  std::vector<float> out(c.rows * q_dim, NAN);
  const int64_t before = CountedFlops();
  AttendChunk(q.data(), q_dim, c.rows, held.data(), c.q_heads, c.kv_heads,
              c.head_dim, scale, kv, layer, out.data(), q_dim);
  EXPECT_EQ(CountedFlops() - before,
            4 * attended * c.q_heads * int64_t{c.head_dim});
  SetThreads(1);

  const int group = c.q_heads / c.kv_heads;
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int h = 0; h < c.q_heads; ++h) {
      const int g = h / group;
      std::vector<double> p(held[r]);
      double max_score = -INFINITY, sum = 0;
      for (int64_t s = 0; s < held[r]; ++s) {
        double dot = 0;
        for (int i = 0; i < c.head_dim; ++i) {
          dot += double{q[r * q_dim + h * c.head_dim + i]} *
                 keys[(layer * slots + s) * kv_dim + g * c.head_dim + i];
        }
        p[s] = scale * dot;
        max_score = std::max(max_score, p[s]);
      }
      for (double& v : p) sum += (v = std::exp(v - max_score));
      for (int i = 0; i < c.head_dim; ++i) {
        double want = 0;
        for (int64_t s = 0; s < held[r]; ++s) {
          want += p[s] / sum *
                  values[(layer * slots + s) * kv_dim + g * c.head_dim + i];
        }
        ASSERT_NEAR(out[r * q_dim + h * c.head_dim + i], want, 2e-5)
            << "row " << r << " head " << h << " dim " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttendChunkTest,
    ::testing::Values(
        // multi-head, a chunk starting at the first token
        ChunkCase{4, 4, 16, 16, 1, 24, 1},
        // grouped KV heads, blocks that split the chunk and the prefix
        ChunkCase{4, 2, 16, 5, 20, 13, 1},
        // one KV head for eight query heads, on a team of two
        ChunkCase{8, 1, 8, 7, 33, 64, 2}));

}  // namespace
}  // namespace trilemma::ops
