// The memory family's token mixer: softmax attention of one query over the
// session's window slots plus the rows its KV policy retrieves from an
// external store (engines/stack/external_store_kv.h), under one softmax per
// head (ops/retrieval_attention.h):
//
//   write k, v to `slot` of this block's KV layer
//   R = external->Retrieve(q)                  (top_k entries by q·k)
//   o_h = Σ_{s ∈ slots [0, held) ∪ R} softmax_s(q_h·k_{s,h} / √head_dim)
//   v_{s,h}
//
// Without an external store (MixerState::external null) R is empty and this
// is plain softmax attention over the held slots.
//
// Example:
//   MixerStack stack;
//   stack.kv = ExternalStoreKvPolicy(options);
//   stack.kv_dim = d;
//   stack.mixers.push_back(MakeRetrievalSoftmaxMixer(heads, d / heads));
//
// Immutable and thread-safe; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_MEMORY_RETRIEVAL_MIXER_H_
#define TRILEMMA_ENGINES_MEMORY_RETRIEVAL_MIXER_H_

#include <memory>

#include "engines/common/token_mixer.h"

namespace trilemma {

// Flops(held) counts the window slots only; the engine adds the retrieved
// rows and the index's search from the policy (KvPolicy::NextExternalWork).
std::unique_ptr<TokenMixer> MakeRetrievalSoftmaxMixer(int heads, int head_dim);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_MEMORY_RETRIEVAL_MIXER_H_
