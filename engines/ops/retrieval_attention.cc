#include "engines/ops/retrieval_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/ops/attention.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void AttendSlotsAndRows(const float* q, int heads, int head_dim, float scale,
                        const KvBlockTable& kv, int layer, int64_t slots,
                        const float* const* row_keys,
                        const float* const* row_values, int64_t rows,
                        float* scores, float* out) {
  const int kv_dim = kv.kv_dim();
  const int64_t n = slots + rows;
  CountFlops(AttendFlops(n, int64_t{heads} * head_dim));
  // Index i < slots is a slot, slots + r is retrieved row r. Slots are
  // decoded into key_row / value_row when the KV format is compressed.
  thread_local std::vector<float> key_row, value_row;
  key_row.resize(kv_dim);
  value_row.resize(kv_dim);
  auto key = [&](int64_t i) {
    return i < slots ? kv.ReadRow(layer, KvBlockTable::kKey, i, key_row.data())
                     : row_keys[i - slots];
  };
  auto value = [&](int64_t i) {
    return i < slots
               ? kv.ReadRow(layer, KvBlockTable::kValue, i, value_row.data())
               : row_values[i - slots];
  };
  for (int h = 0; h < heads; ++h) {
    const float* qh = q + h * head_dim;
    float* oh = out + h * head_dim;
    float max_score = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      scores[i] = scale * Dot(qh, key(i) + h * head_dim, head_dim);
      max_score = std::max(max_score, scores[i]);
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      scores[i] = std::exp(scores[i] - max_score);
      sum += scores[i];
    }
    const float inv = 1.0f / sum;
    std::fill(oh, oh + head_dim, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      Axpy(scores[i] * inv, value(i) + h * head_dim, oh, head_dim);
    }
  }
}

}  // namespace trilemma::ops
