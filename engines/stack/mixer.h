// Mixer: the token-mixing half of a layer-stack block (attention, an SSM, a
// linear recurrence ...). A mixer owns its projections and says what state it
// keeps per session; the layer-stack engine (layer_stack_engine.h) allocates
// that state once for every architecture and hands each mixer its slice.
//
// One Forward call processes R rows. A row is one token of one session: a
// decode step has one row per session, a prefill chunk has consecutive rows
// of one session. Rows of the same session come in position order and the
// mixer must finish row r's state update before reading row r+1's state, so
// the same code serves decode, prefill and a mix of both. Projections should
// run as one matmul over all R rows (the batch is the performance lever).
//
// Example (a mixer that keeps a KV row per token):
//   MixerStateDecl decl = mixer.state();   // {.fixed_floats = 0, .kv_dim =
//   128} mixer.Forward(xn, rows, out);          // xn, out: [R, d]
//
// Thread-safe: immutable after construction; scratch is thread-local.
#ifndef TRILEMMA_ENGINES_STACK_MIXER_H_
#define TRILEMMA_ENGINES_STACK_MIXER_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engines/stack/kv_policy.h"
#include "engines/state/kv_block_table.h"

namespace trilemma {

// What a mixer keeps per session.
struct MixerStateDecl {
  // Zero-initialised floats for the session's life (SSM h, conv window,
  // matrix memory, token-shift row).
  int64_t fixed_floats = 0;
  // > 0: one key and one value row of this width per token, kept by the
  // engine's KV policy (paged, ring window, evicting, external store). Every
  // KV-keeping mixer of one stack has the same width.
  int kv_dim = 0;
};

// One row's view of its session's state for one mixer.
struct MixerRow {
  float* fixed = nullptr;      // the mixer's fixed_floats() floats
  KvBlockTable* kv = nullptr;  // null unless the mixer keeps KV
  int kv_layer = -1;           // this mixer's layer in `kv`
  int64_t position = 0;        // tokens of the session before this one
  int64_t slot = 0;            // KV slot this token's key/value go to
  int64_t held = 0;            // slots [0, held) hold tokens once written
  // Non-null when the session's KV policy wants each layer's attention
  // weights (heavy hitters): a softmax mixer reports them with
  // observer->ObserveAttention(kv_layer, probs, held).
  KvPolicy* observer = nullptr;
  // Non-null when the session's KV policy keeps an external store
  // (retrieve_k() > 0): a retrieving mixer reads it with
  // external->Retrieve(query, keys, values).
  KvPolicy* external = nullptr;
};

class Mixer {
 public:
  virtual ~Mixer() = default;

  virtual MixerStateDecl state() const = 0;

  // x: [R, d] (the block's normed input); out: [R, d], overwritten.
  // REQUIRES: rows.size() == R; see the header comment for row order.
  virtual void Forward(const float* x, absl::Span<const MixerRow> rows,
                       float* out) const = 0;

  // FLOPs of one row when `held` KV slots are attended (multiply-add = 2).
  virtual int64_t Flops(int64_t held) const = 0;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STACK_MIXER_H_
