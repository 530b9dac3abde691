#include "engines/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void AttendKv(const float* q, int q_heads, int kv_heads, int head_dim,
              float scale, const KvBlockTable& kv, int layer, int64_t slots,
              float* scores, float* out, float* probs_out) {
  const int block_tokens = kv.block_tokens();
  const int group = q_heads / kv_heads;
  const int64_t blocks = (slots + block_tokens - 1) / block_tokens;
  CountFlops(AttendFlops(slots, int64_t{q_heads} * head_dim));
  // One block's rows of one head, decoded (unused for f32).
  thread_local std::vector<float> tile;
  tile.resize(static_cast<size_t>(block_tokens) * head_dim);
  if (probs_out != nullptr) std::fill(probs_out, probs_out + slots, 0.0f);
  for (int h = 0; h < q_heads; ++h) {
    const float* qh = q + int64_t{h} * head_dim;
    const int col = (h / group) * head_dim;
    float* oh = out + int64_t{h} * head_dim;
    // scores[s] = scale · q_h · k_{s,g}
    float max_score = -INFINITY;
    for (int64_t b = 0; b < blocks; ++b) {
      const int n = static_cast<int>(
          std::min<int64_t>(block_tokens, slots - b * block_tokens));
      int64_t stride = 0;
      const float* keys = kv.ReadRows(layer, KvBlockTable::kKey, b, 0, n, col,
                                      head_dim, tile.data(), &stride);
      float* sc = scores + b * block_tokens;
      for (int s = 0; s < n; ++s) {
        sc[s] = scale * Dot(qh, keys + s * stride, head_dim);
        max_score = std::max(max_score, sc[s]);
      }
    }
    float sum = 0.0f;
    for (int64_t s = 0; s < slots; ++s) {
      scores[s] = std::exp(scores[s] - max_score);
      sum += scores[s];
    }
    const float inv = 1.0f / sum;
    std::fill(oh, oh + head_dim, 0.0f);
    for (int64_t b = 0; b < blocks; ++b) {
      const int n = static_cast<int>(
          std::min<int64_t>(block_tokens, slots - b * block_tokens));
      int64_t stride = 0;
      const float* values = kv.ReadRows(layer, KvBlockTable::kValue, b, 0, n,
                                        col, head_dim, tile.data(), &stride);
      const float* sc = scores + b * block_tokens;
      for (int s = 0; s < n; ++s) {
        Axpy(sc[s] * inv, values + s * stride, oh, head_dim);
      }
    }
    if (probs_out != nullptr) {
      for (int64_t s = 0; s < slots; ++s) probs_out[s] += scores[s] * inv;
    }
  }
}

}  // namespace trilemma::ops
