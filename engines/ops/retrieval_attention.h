// Softmax attention of one query over a set of KV slots plus a few extra
// key/value rows held elsewhere (entries retrieved from an external store):
// one softmax per head over both sets together, as if the rows were slots.
//
//   o_h = Σ_{s ∈ slots ∪ rows} softmax_s(scale · q_h·k_{s,h}) v_{s,h}
//
// Thread-safe (pure function over its arguments).
#ifndef TRILEMMA_ENGINES_OPS_RETRIEVAL_ATTENTION_H_
#define TRILEMMA_ENGINES_OPS_RETRIEVAL_ATTENTION_H_

#include <cstdint>

#include "engines/state/kv_block_table.h"

namespace trilemma::ops {

// q: [H*head_dim]; attends over slots [0, slots) of `layer` in `kv` and over
// `rows` rows whose keys and values are row_keys[i], row_values[i] (each
// H*head_dim floats); out: [H*head_dim]. `scores` is scratch of at least
// slots + rows floats.
// REQUIRES: slots + rows >= 1; kv.kv_dim() == heads * head_dim.
void AttendSlotsAndRows(const float* q, int heads, int head_dim, float scale,
                        const KvBlockTable& kv, int layer, int64_t slots,
                        const float* const* row_keys,
                        const float* const* row_values, int64_t rows,
                        float* scores, float* out);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_RETRIEVAL_ATTENTION_H_
