#include "engines/ops/attention.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void AttendSlots(const float* q, int heads, int head_dim, float scale,
                 const KvBlockTable& kv, int layer, int64_t slots,
                 float* scores, float* out, float* probs_out) {
  const int kv_dim = kv.kv_dim();
  const int block_tokens = kv.block_tokens();
  CountFlops(AttendFlops(slots, int64_t{heads} * head_dim));
  if (probs_out != nullptr) std::fill(probs_out, probs_out + slots, 0.0f);
  for (int h = 0; h < heads; ++h) {
    const float* qh = q + h * head_dim;
    float* oh = out + h * head_dim;
    // scores[s] = scale · q_h · k_{s,h}
    float max_score = -INFINITY;
    for (int64_t s = 0; s < slots; ++s) {
      const float* k = kv.BlockKeys(layer, s / block_tokens) +
                       (s % block_tokens) * kv_dim + h * head_dim;
      scores[s] = scale * Dot(qh, k, head_dim);
      max_score = std::max(max_score, scores[s]);
    }
    float sum = 0.0f;
    for (int64_t s = 0; s < slots; ++s) {
      scores[s] = std::exp(scores[s] - max_score);
      sum += scores[s];
    }
    const float inv = 1.0f / sum;
    std::fill(oh, oh + head_dim, 0.0f);
    for (int64_t s = 0; s < slots; ++s) {
      const float p = scores[s] * inv;
      const float* v = kv.BlockValues(layer, s / block_tokens) +
                       (s % block_tokens) * kv_dim + h * head_dim;
      Axpy(p, v, oh, head_dim);
      if (probs_out != nullptr) probs_out[s] += p;
    }
  }
}

}  // namespace trilemma::ops
