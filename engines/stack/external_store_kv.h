// ExternalStoreKvPolicy: a KV policy of two tiers — the last `window` tokens in
// a ring of pool blocks (model state), and an external key-value store
// (engines/state/external_kv_store.h) beside the model that receives, from one
// KV layer, the key and value of every token leaving the window. A mixer reads
// the store with KvPolicy::Retrieve (the top-k entries by inner product) and
// attends over its window and those entries together (Memorizing
// Transformers' kNN memory; engines/memory/).
//
// Model-tier state stays flat once the window is full; the store grows with
// the context and is reported as Session::external_state_bytes, charged to no
// KvBlockPool. Any family can pick it like the other policies:
//
// Example:
//   LayerStack stack;
//   stack.kv = ExternalStoreKvPolicy({.window = 64, .top_k = 4,
//                                     .store = {.dim = kv_dim}});
//
// Per token (one at a time: a leaving token must be stored before its slot is
// overwritten, so Place(ahead > 0) is false and prefill steps token by token):
//   BeforeWrite: p >= W -> store.Append(K[store_layer][p mod W], V[...])
//   mixers:      write K/V[l][p mod W]; a retrieving mixer calls Retrieve(q)
//   Advance:     records the most query·key products one step needed (the
//                cost model's estimate for an HNSW index)
#ifndef TRILEMMA_ENGINES_STACK_EXTERNAL_STORE_KV_H_
#define TRILEMMA_ENGINES_STACK_EXTERNAL_STORE_KV_H_

#include <cstdint>

#include "engines/stack/kv_policy.h"
#include "engines/state/external_kv_store.h"

namespace trilemma {

struct ExternalStoreKvOptions {
  int64_t window = 64;  // tokens kept in the pool (> 0)
  int64_t top_k = 4;    // rows one Retrieve returns at most (> 0)
  int store_layer = 0;  // KV layer whose leaving keys and values are stored
  // The store; store.dim must equal the stack's kv_dim.
  ExternalKvStoreOptions store;
};

// The policy spec: kept_tokens = window, external_bytes_per_token =
// ExternalKvStore::BytesPerEntry(options.store). Its factory returns
// INVALID_ARGUMENT when store.dim differs from the stack's kv_dim or
// store_layer is not one of its KV layers.
KvPolicySpec ExternalStoreKvPolicy(const ExternalStoreKvOptions& options);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STACK_EXTERNAL_STORE_KV_H_
