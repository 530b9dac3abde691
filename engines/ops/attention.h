// Softmax attention of one query over a set of KV slots of one layer, for KV
// stored in any KvFormat (engines/state/kv_format.h): compressed rows are
// decoded a block and a head at a time into a small tile, so the dot products
// and the weighted sum run on floats in cache (docs/kv_compression.md).
//
// Multi-head: the query is H heads of width head_dim laid out [H][head_dim];
// keys and values are G ≤ H heads (G == H: plain multi-head; otherwise
// grouped-query, query head h reading KV head h / (H / G)):
//   o_h = Σ_s softmax_s(scale · q_h·k_{s,g}) v_{s,g}
// Slots have no order (there is no positional encoding), so the same kernel
// serves full, windowed and evicting caches.
//
// Example:
//   ops::AttendSlots(q, heads, head_dim, 1 / sqrt(head_dim), table, layer,
//                    held, out);
//
// Thread-safe (pure function over its arguments; scratch is thread-local).
#ifndef TRILEMMA_ENGINES_OPS_ATTENTION_H_
#define TRILEMMA_ENGINES_OPS_ATTENTION_H_

#include <cstdint>

#include "engines/state/kv_block_table.h"

namespace trilemma::ops {

// q: [q_heads*head_dim]; attends over slots [0, slots) of `layer` in `kv`;
// out: [q_heads*head_dim]. Scratch ([q_heads, slots] scores, one decoded
// block) is an ops::ThreadScratch of the calling thread.
// When `probs_out` is non-null it receives the softmax weights summed over
// query heads, one per slot (what heavy-hitter eviction accumulates).
// REQUIRES: slots >= 1; q_heads % kv_heads == 0;
//           kv.kv_dim() == kv_heads * head_dim.
void AttendKv(const float* q, int q_heads, int kv_heads, int head_dim,
              float scale, const KvBlockTable& kv, int layer, int64_t slots,
              float* out, float* probs_out = nullptr);

// AttendKv with as many KV heads as query heads.
inline void AttendSlots(const float* q, int heads, int head_dim, float scale,
                        const KvBlockTable& kv, int layer, int64_t slots,
                        float* out, float* probs_out = nullptr) {
  AttendKv(q, heads, heads, head_dim, scale, kv, layer, slots, out, probs_out);
}

// FLOPs of AttendSlots: q·k and p·v, multiply-add = 2 each (decoding a
// compressed row is not counted).
inline int64_t AttendFlops(int64_t slots, int64_t kv_dim) {
  return 4 * slots * kv_dim;
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_ATTENTION_H_
