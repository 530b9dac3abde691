#include "engines/ops/chunk_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/ops/matmul.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void AttendChunk(const float* q, int64_t q_stride, int64_t rows,
                 const int64_t* held, int q_heads, int kv_heads, int head_dim,
                 float scale, const KvBlockTable& kv, int layer, float* out,
                 int64_t out_stride) {
  const int64_t slots = held[rows - 1];
  const int block_tokens = kv.block_tokens();
  const int group = q_heads / kv_heads;
  int64_t attended = 0;
  for (int64_t r = 0; r < rows; ++r) attended += held[r];
  CountFlops(4 * attended * q_heads * head_dim);

  struct Scratch {
    std::vector<float> keys, values, qh, scores, oh, tile;
  };
  Scratch& buffers = ThreadScratch<Scratch>();
  std::vector<float>& keys = buffers.keys;
  std::vector<float>& values = buffers.values;
  std::vector<float>& qh = buffers.qh;
  std::vector<float>& scores = buffers.scores;
  std::vector<float>& oh = buffers.oh;
  std::vector<float>& tile = buffers.tile;
  tile.resize(int64_t{block_tokens} * head_dim);
  keys.resize(slots * head_dim);
  values.resize(slots * head_dim);
  qh.resize(rows * head_dim);
  scores.resize(rows * slots);
  oh.resize(rows * head_dim);
  for (int g = 0; g < kv_heads; ++g) {
    // keys, values: [S, hd] of KV head g, decoded out of the table's blocks.
    for (int64_t b = 0; b * block_tokens < slots; ++b) {
      const int n = static_cast<int>(
          std::min<int64_t>(block_tokens, slots - b * block_tokens));
      for (int kind : {KvBlockTable::kKey, KvBlockTable::kValue}) {
        int64_t stride = 0;
        const float* src = kv.ReadRows(layer, kind, b, 0, n, g * head_dim,
                                       head_dim, tile.data(), &stride);
        float* dst = (kind == KvBlockTable::kKey ? keys : values).data() +
                     b * block_tokens * head_dim;
        for (int i = 0; i < n; ++i) {
          Copy(src + i * stride, dst + int64_t{i} * head_dim, head_dim);
        }
      }
    }
    for (int h = g * group; h < (g + 1) * group; ++h) {
      for (int64_t r = 0; r < rows; ++r) {  // qh: [R, hd]
        Copy(q + r * q_stride + int64_t{h} * head_dim, &qh[r * head_dim],
             head_dim);
      }
      LinearUncounted(qh.data(), rows, head_dim, keys.data(), slots,
                      scores.data());  // [R, S]
      for (int64_t r = 0; r < rows; ++r) {
        float* sr = &scores[r * slots];
        const int64_t n = held[r];
        float max_score = -INFINITY;
        for (int64_t s = 0; s < n; ++s) {
          sr[s] *= scale;
          max_score = std::max(max_score, sr[s]);
        }
        float sum = 0.0f;
        for (int64_t s = 0; s < n; ++s) {
          sr[s] = std::exp(sr[s] - max_score);
          sum += sr[s];
        }
        const float inv = 1.0f / sum;
        for (int64_t s = 0; s < n; ++s) sr[s] *= inv;
        std::fill(sr + n, sr + slots, 0.0f);  // causal mask
      }
      MatMulUncounted(scores.data(), values.data(), oh.data(), rows, slots,
                      head_dim);  // [R, hd]
      for (int64_t r = 0; r < rows; ++r) {
        Copy(&oh[r * head_dim], out + r * out_stride + int64_t{h} * head_dim,
             head_dim);
      }
    }
  }
}

}  // namespace trilemma::ops
