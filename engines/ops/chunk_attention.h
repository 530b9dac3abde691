// Causal attention of a prefill chunk computed as dense products: R
// consecutive query rows of one session, row r attending KV slots
// [0, held[r]) of its paged table.
//
// The row-by-row kernel (AttendGrouped) reduces one key at a time; a chunk
// instead gathers each KV head's keys and values once and runs two oneDNN
// matmuls per query head, which is what makes long prompts compute-bound
// rather than bound by per-key reductions.
//
// Example:
//   // q: [R, q_stride] with head h at columns h·hd; out likewise
//   ops::AttendChunk(q, q_dim, R, held, H, G, hd, scale, kv, layer, out,
//   q_dim);
//
// Counted FLOPs are the row-by-row kernel's, 4·Σ_r held[r]·H·hd, whatever
// the masked dense products cost. Thread-safe (scratch is per thread).
#ifndef TRILEMMA_ENGINES_OPS_CHUNK_ATTENTION_H_
#define TRILEMMA_ENGINES_OPS_CHUNK_ATTENTION_H_

#include <cstdint>

#include "engines/state/kv_block_table.h"

namespace trilemma::ops {

// out[r, h·hd : (h+1)·hd] = Σ_{s < held[r]} softmax_s(scale · q_{r,h}·k_{s,g})
//                           v_{s,g},  g = h / (q_heads / kv_heads).
// REQUIRES: rows >= 1; 1 <= held[0] <= ... <= held[rows-1] <= the table's
//           slots; q_heads % kv_heads == 0; kv.kv_dim() == kv_heads·head_dim;
//           out does not alias q.
void AttendChunk(const float* q, int64_t q_stride, int64_t rows,
                 const int64_t* held, int q_heads, int kv_heads, int head_dim,
                 float scale, const KvBlockTable& kv, int layer, float* out,
                 int64_t out_stride);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_CHUNK_ATTENTION_H_
