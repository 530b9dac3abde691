#include "engines/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/ops/fast_math.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {
namespace {

// x[i] = e^(x[i] - shift) for i < n; returns their sum (eight partial sums,
// as in Dot, so the loop vectorises).
TRILEMMA_VECTOR_KERNEL
float ExpShiftSum(float* x, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) x[i] = FastExp(x[i] - shift);
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += x[i + j];
  }
  float sum = ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
              ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// Calls row_fn(s, row) for slots s in [0, slots) of `kind` in `layer`, in
// order, one KV block at a time; `row` holds the whole row (all KV heads),
// decoded into `tile` ([block_tokens, kv_dim]) when the cache is compressed.
template <typename RowFn>
inline void ForEachKvRow(const KvBlockTable& kv, int layer, int kind,
                         int64_t slots, int kv_dim, float* tile,
                         RowFn&& row_fn) {
  const int block_tokens = kv.block_tokens();
  for (int64_t first = 0, b = 0; first < slots; first += block_tokens, ++b) {
    const int n =
        static_cast<int>(std::min<int64_t>(block_tokens, slots - first));
    int64_t stride = 0;
    const float* rows =
        kv.ReadRows(layer, kind, b, 0, n, 0, kv_dim, tile, &stride);
    for (int s = 0; s < n; ++s) row_fn(first + s, rows + s * stride);
  }
}

}  // namespace

// Row-major over slots: each key and value row (all heads) is read once,
// front to back, so the KV streams from memory at full bandwidth; the per-head
// scores live in [q_heads, slots] scratch. Compiled per ISA: Dot, Axpy and
// ExpShiftSum inline into each clone.
TRILEMMA_VECTOR_KERNEL
void AttendKv(const float* q, int q_heads, int kv_heads, int head_dim,
              float scale, const KvBlockTable& kv, int layer, int64_t slots,
              float* out, float* probs_out) {
  const int kv_dim = kv_heads * head_dim;
  const int group = q_heads / kv_heads;
  CountFlops(AttendFlops(slots, int64_t{q_heads} * head_dim));
  struct Scratch {
    std::vector<float> scores;  // [q_heads, slots]
    std::vector<float> tile;    // one block's rows, decoded (unused for f32)
  };
  Scratch& scratch = ThreadScratch<Scratch>();
  scratch.scores.resize(int64_t{q_heads} * slots);
  scratch.tile.resize(int64_t{kv.block_tokens()} * kv_dim);
  float* scores = scratch.scores.data();
  // scores[h, s] = scale · q_h · k_{s,g}
  ForEachKvRow(kv, layer, KvBlockTable::kKey, slots, kv_dim,
               scratch.tile.data(), [&](int64_t s, const float* key) {
                 for (int h = 0; h < q_heads; ++h) {
                   scores[h * slots + s] =
                       scale * Dot(q + int64_t{h} * head_dim,
                                   key + (h / group) * head_dim, head_dim);
                 }
               });
  // Each head's row becomes its softmax weights.
  for (int h = 0; h < q_heads; ++h) {
    float* sh = scores + h * slots;
    float max_score = -INFINITY;
    for (int64_t s = 0; s < slots; ++s) max_score = std::max(max_score, sh[s]);
    const float inv = 1.0f / ExpShiftSum(sh, slots, max_score);
    for (int64_t s = 0; s < slots; ++s) sh[s] *= inv;
  }
  // out_h = Σ_s p[h, s] · v_{s,g}
  std::fill(out, out + int64_t{q_heads} * head_dim, 0.0f);
  ForEachKvRow(kv, layer, KvBlockTable::kValue, slots, kv_dim,
               scratch.tile.data(), [&](int64_t s, const float* value) {
                 for (int h = 0; h < q_heads; ++h) {
                   Axpy(scores[h * slots + s], value + (h / group) * head_dim,
                        out + int64_t{h} * head_dim, head_dim);
                 }
               });
  if (probs_out != nullptr) {
    std::fill(probs_out, probs_out + slots, 0.0f);
    for (int h = 0; h < q_heads; ++h) {
      Add(scores + h * slots, probs_out, slots);
    }
  }
}

}  // namespace trilemma::ops
