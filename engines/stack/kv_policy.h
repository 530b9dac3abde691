// KvPolicy: how a session's KV rows are kept — which slot each new token's
// key and value go to and which slots later tokens attend. One implementation
// per kind of KV state: paged (every token; engines/state/paged_kv_cache.h),
// ring window (the last W), sinks + window and heavy hitters
// (engines/state/evicting_kv.h), and a ring window whose leaving tokens go to
// an external key-value store read by top-k search (external_store_kv.h).
// The layer-stack engine holds one policy per
// session, shared by every KV-keeping mixer of the stack (each its own layer
// of the block table), and a family picks it with a KvPolicySpec.
//
// Example:
//   LayerStack stack;
//   stack.kv = RingWindowKvPolicy(/*window=*/256);
//   // or, a family's own state class with the KvState methods below:
//   stack.kv = {.make = MakeKvPolicy<SinkWindowKv>(...), .kept_tokens = S + W};
//
// Not thread-safe: owned by one Session.
#ifndef TRILEMMA_ENGINES_STACK_KV_POLICY_H_
#define TRILEMMA_ENGINES_STACK_KV_POLICY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "engines/state/kv_format.h"

namespace trilemma {

class KvPolicy {
 public:
  virtual ~KvPolicy() = default;

  // Makes room for `more` tokens; RESOURCE_EXHAUSTED from the pool.
  virtual absl::Status Reserve(int64_t more) = 0;
  virtual int64_t tokens() const = 0;
  virtual int64_t bytes() const = 0;
  virtual int64_t bytes_after(int64_t more) const = 0;
  virtual KvBlockTable& table() = 0;

  // Where the token `ahead` tokens after the next one goes (ahead = 0: the
  // next token) and how many slots are held once it is written. False when
  // the policy must see each step's attention before placing the next token
  // (heavy hitters): the engine then runs such sessions one token at a time.
  // REQUIRES: ahead == 0 returns true.
  virtual bool Place(int64_t ahead, int64_t* slot, int64_t* held) const = 0;
  // Moves past `n` written tokens. REQUIRES: n == 1 unless Place(ahead > 0)
  // is true.
  virtual void Advance(int64_t n) = 0;

  // Whether ObserveAttention wants each layer's softmax weights.
  virtual bool wants_attention() const { return false; }
  // `probs[s]`: the weight slot s received this step in `layer`, summed
  // over heads.
  virtual void ObserveAttention(int /*layer*/, const float* /*probs*/,
                                int64_t /*slots*/) {}

  // Copies `other`'s tokens into this empty policy (same kind and shape),
  // taking blocks from the pool.
  virtual absl::Status CopyFrom(const KvPolicy& other) = 0;

  // Called before a forward pass writes the next token(s). A policy that
  // moves the token leaving its slot elsewhere (an external store) does it
  // here; such a policy returns false from Place(ahead > 0), so exactly one
  // token follows.
  virtual absl::Status BeforeWrite() { return absl::OkStatus(); }

  // --- External tier (external_store_kv.h); none for pool-only policies. ---
  // Bytes held outside the pool (Session::external_state_bytes).
  virtual int64_t external_bytes() const { return 0; }
  // Most rows Retrieve returns; 0: the policy keeps no external store.
  virtual int64_t retrieve_k() const { return 0; }
  // Writes pointers to the key and value rows (kv_dim floats each) of the
  // min(retrieve_k(), stored) entries best matching `query` by inner
  // product, best first; returns how many. Valid until the next call.
  virtual int64_t Retrieve(const float* /*query*/, const float** /*keys*/,
                           const float** /*values*/) {
    return 0;
  }
  // The next step's external work, for the cost model: rows one Retrieve
  // returns and query·key products the store computes (insert + search).
  struct ExternalWork {
    int64_t retrieved = 0;
    int64_t products = 0;
  };
  virtual ExternalWork NextExternalWork() const { return {}; }
};

// What a stack's sessions keep their KV with. A null `make` keeps none.
struct KvPolicySpec {
  using Factory = std::function<absl::StatusOr<std::unique_ptr<KvPolicy>>(
      KvBlockPool* pool, int layers, int kv_dim, int block_tokens)>;
  Factory make;
  // Most tokens ever held (0: unbounded), for EngineInfo's state cap.
  int64_t kept_tokens = 0;
  // Bytes of bookkeeping a session holds besides its blocks (charged by the
  // policy itself), for EngineInfo's fixed state.
  int64_t fixed_bytes = 0;
  // How the rows are stored (the `kv_dtype` knob); the engine's pool carries
  // it to every table (engines/state/kv_format.h).
  KvFormat format;
  // Expected external-tier bytes per token past the pool's kept tokens, for
  // EngineInfo.external_bytes_per_token (0: no external tier).
  int64_t external_bytes_per_token = 0;
};

// Every token, slot = position (full attention).
KvPolicySpec PagedKvPolicy(KvFormat format = {});
// The last `window` tokens, slot = position mod window. REQUIRES: window > 0.
KvPolicySpec RingWindowKvPolicy(int64_t window, KvFormat format = {});

// Adapts a KV state class with the methods of PagedKvCache (Reserve,
// next_slot, held_after, Advance, tokens, bytes, bytes_after, table,
// CopyFrom) and optionally SlotAt/HeldAt(position) (to place tokens ahead)
// and kWantsAttention + ObserveAttention.
template <typename State>
class KvPolicyOf final : public KvPolicy {
 public:
  explicit KvPolicyOf(State state) : state_(std::move(state)) {}

  absl::Status Reserve(int64_t more) override { return state_.Reserve(more); }
  int64_t tokens() const override { return state_.tokens(); }
  int64_t bytes() const override { return state_.bytes(); }
  int64_t bytes_after(int64_t more) const override {
    return state_.bytes_after(more);
  }
  KvBlockTable& table() override { return state_.table(); }

  bool Place(int64_t ahead, int64_t* slot, int64_t* held) const override {
    if (ahead == 0) {
      *slot = state_.next_slot();
      *held = state_.held_after();
      return true;
    }
    if constexpr (requires(const State& s) { s.SlotAt(int64_t{0}); }) {
      const int64_t position = state_.tokens() + ahead;
      *slot = state_.SlotAt(position);
      *held = state_.HeldAt(position);
      return true;
    } else {
      return false;
    }
  }
  void Advance(int64_t n) override {
    for (int64_t i = 0; i < n; ++i) state_.Advance();
  }

  bool wants_attention() const override {
    if constexpr (requires { State::kWantsAttention; }) {
      return State::kWantsAttention;
    } else {
      return false;
    }
  }
  void ObserveAttention(int layer, const float* probs, int64_t slots) override {
    if constexpr (requires { State::kWantsAttention; }) {
      state_.ObserveAttention(layer, probs, slots);
    }
  }

  absl::Status CopyFrom(const KvPolicy& other) override {
    return state_.CopyFrom(static_cast<const KvPolicyOf&>(other).state_);
  }

 private:
  State state_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STACK_KV_POLICY_H_
