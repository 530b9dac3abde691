// TokenMixer: the per-token core of a built-in circuit block — softmax over
// KV rows, a matrix memory (linear attention, the delta rule), or several of
// them side by side — reading one row's q, k, v and the session's state.
// circuit_stack.h wraps it with the block's token shift and projections into
// a layer-stack Mixer (engines/stack/mixer.h).
//
// Example:
//   std::unique_ptr<TokenMixer> m = MakeSoftmaxKvMixer(/*heads=*/1, 128);
//   m->Mix(q, k, v, state, o);   // q, k: [qk]; v, o: [dv]
//
// Immutable (per-head parameters are copied in at construction); thread-safe.
#ifndef TRILEMMA_ENGINES_COMMON_TOKEN_MIXER_H_
#define TRILEMMA_ENGINES_COMMON_TOKEN_MIXER_H_

#include <cstdint>

#include "engines/state/kv_block_table.h"

namespace trilemma {

class KvPolicy;

// What a mixer sees of one session for its block.
struct MixerState {
  float* fixed = nullptr;  // the mixer's fixed_floats() floats (zero at first)
  KvBlockTable* kv = nullptr;  // null unless the mixer keeps_kv()
  int kv_layer = -1;           // this mixer's layer in `kv`
  int64_t slot = 0;            // the slot this token's key/value goes to
  int64_t held = 0;            // slots [0, held) hold tokens once it is written
  // When non-null, a softmax mixer writes here the weight each of the
  // `held` slots received (summed over heads), for heavy-hitter eviction.
  float* attention_probs = nullptr;
  // The session's KV policy when it keeps an external store (a retrieving
  // mixer calls external->Retrieve; engines/stack/external_store_kv.h).
  KvPolicy* external = nullptr;
};

class TokenMixer {
 public:
  virtual ~TokenMixer() = default;
  // Floats of fixed per-session state this mixer keeps (matrix memories).
  virtual int64_t fixed_floats() const = 0;
  // Whether the mixer writes a KV row per token (into MixerState::kv).
  virtual bool keeps_kv() const { return false; }
  // q, k: [qk]; v, o: [dv] (the block's widths).
  virtual void Mix(const float* q, const float* k, const float* v,
                   const MixerState& state, float* o) const = 0;
  // FLOPs of one Mix when `held` KV slots are attended (0 without KV).
  virtual int64_t Flops(int64_t held) const = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_TOKEN_MIXER_H_
