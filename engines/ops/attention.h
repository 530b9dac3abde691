// Softmax attention of one query over a set of KV slots of one layer.
//
// Multi-head: the query, keys and values are H heads of width head_dim laid
// out [H][head_dim]; each head attends independently:
//   o_h = Σ_s softmax_s(scale · q_h·k_{s,h}) v_{s,h}
// Slots have no order (there is no positional encoding), so the same kernel
// serves full, windowed and evicting caches.
//
// Thread-safe (pure function over its arguments).
#ifndef TRILEMMA_ENGINES_OPS_ATTENTION_H_
#define TRILEMMA_ENGINES_OPS_ATTENTION_H_

#include <cstdint>

#include "engines/state/kv_block_table.h"

namespace trilemma::ops {

// q: [H*head_dim]; attends over slots [0, slots) of `layer` in `kv`;
// out: [H*head_dim]. `scores` is scratch of at least `slots` floats. When
// `probs_out` is non-null it receives the softmax weights summed over heads,
// one per slot (what heavy-hitter eviction accumulates).
// REQUIRES: slots >= 1; kv.kv_dim() == heads * head_dim.
void AttendSlots(const float* q, int heads, int head_dim, float scale,
                 const KvBlockTable& kv, int layer, int64_t slots,
                 float* scores, float* out, float* probs_out = nullptr);

// FLOPs of AttendSlots: q·k and p·v, multiply-add = 2 each.
inline int64_t AttendFlops(int64_t slots, int64_t kv_dim) {
  return 4 * slots * kv_dim;
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_ATTENTION_H_
