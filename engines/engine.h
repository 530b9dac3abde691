// The engine interface: an online sequence processor (state, update, output).
//
// An Engine holds immutable weights and config and is thread-safe. It creates
// Sessions, each holding one sequence's state, and advances many sessions by
// one token each in a single batched Step, yielding next-token logits.
//
// This is the only engine header the server sees. Architectures live in
// engines/<family>/ and register a factory with the registry (registry.h);
// nothing outside their folder names them.
//
// Example:
//   absl::StatusOr<std::unique_ptr<Engine>> engine =
//       CreateEngine({.name = "attention", .family = "attention"});
//   std::unique_ptr<Session> s = (*engine)->NewSession().value();
//   std::vector<float> logits((*engine)->info().shape().vocab());
//   Session* batch[] = {s.get()};
//   int32_t token = 3;
//   ABSL_CHECK_OK(s->Reserve(1));
//   ABSL_CHECK_OK((*engine)->Step(batch, {&token, 1}, logits.data()));
#ifndef TRILEMMA_ENGINES_ENGINE_H_
#define TRILEMMA_ENGINES_ENGINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engines/tokenizer/tokenizer.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

class KvBlockPool;

// Analytic cost of one step of one session (multiply-add = 2 FLOPs).
struct StepCost {
  int64_t flops = 0;
  // Bytes of weights and state the step reads or writes.
  int64_t bytes = 0;
};

// A read-only snapshot of an engine's state budget and what of it sessions
// hold: what the server needs to admit, preempt and report, without seeing
// the pool itself (docs/overload.md).
//
// Example:
//   const StateBudget b = engine->budget();
//   bool fits = b.free_bytes() >= 4 * b.block_bytes;
struct StateBudget {
  int64_t budget_bytes = 0;  // the whole budget
  int64_t block_bytes = 0;   // the unit sessions grow by
  int64_t used_bytes = 0;    // held by live sessions now
  int64_t used_blocks = 0;
  int64_t total_blocks = 0;  // budget_bytes / block_bytes
  int64_t free_bytes() const { return budget_bytes - used_bytes; }
};

// One sequence's state. Owned by one request and touched by one thread at a
// time (the engine's scheduler thread); not thread-safe. Destroying a session
// returns all its state to the engine's KvBlockPool; the session must not
// outlive its engine.
class Session {
 public:
  virtual ~Session() = default;

  // Exact bytes of model-tier state this session holds now, block slack
  // included: what it really took from the engine's budget.
  virtual int64_t state_bytes() const = 0;

  // Bytes of external-tier state (e.g. a key-value store beside the model).
  virtual int64_t external_state_bytes() const { return 0; }

  // Tokens consumed so far.
  virtual int64_t context_tokens() const = 0;

  // Model-tier state_bytes() this session would hold after `more_tokens`
  // further tokens, were every reservation to succeed. Used to enforce a
  // request's max_state_bytes before growing.
  virtual int64_t state_bytes_after(int64_t more_tokens) const = 0;

  // Ensures the state can take `more_tokens` further tokens without
  // allocating, taking blocks from the engine's pool as needed.
  // Returns RESOURCE_EXHAUSTED naming the engine's state budget when the pool
  // cannot supply them (what was taken stays held until the session dies).
  // REQUIRES: called before every Step/Prefill that consumes tokens.
  virtual absl::Status Reserve(int64_t more_tokens) = 0;
};

// An architecture instance: weights, config, cost model. Thread-safe: all
// const methods may be called concurrently, but a given Session may be passed
// to only one call at a time.
class Engine {
 public:
  virtual ~Engine() = default;

  // Name, family, corners, shape, state formulas, budget.
  virtual const v1::EngineInfo& info() const = 0;

  // A new empty session (context 0). Charges the session's fixed state (e.g.
  // a recurrent matrix) to the pool; RESOURCE_EXHAUSTED when it does not fit.
  virtual absl::StatusOr<std::unique_ptr<Session>> NewSession() const = 0;

  // Advances each sessions[i] by tokens[i] and writes its next-token logits to
  // logits[i * vocab, (i+1) * vocab). Projections and readout run as one
  // matmul over the batch.
  // REQUIRES: sessions are distinct, from this engine, each Reserve(1)d;
  //           tokens.size() == sessions.size(); every token in [0, vocab);
  //           logits has sessions.size() * vocab floats, or is null when
  //           the caller needs no logits (prefill), which skips the readout.
  virtual absl::Status Step(absl::Span<Session* const> sessions,
                            absl::Span<const int32_t> tokens,
                            float* logits) const = 0;

  // Consumes `tokens` into one session and writes the logits after the last
  // one to `logits` (vocab floats; may be null when not needed). Must leave
  // the same state and logits as stepping token by token. The default steps
  // one token at a time; engines may override with a chunked form.
  // REQUIRES: session->Reserve(tokens.size()) succeeded; tokens non-empty.
  virtual absl::Status Prefill(Session* session,
                               absl::Span<const int32_t> tokens,
                               float* logits) const;

  // A new session holding a copy of `session`'s state (its blocks copied,
  // charged to the pool like any growth), as if it had consumed the same
  // tokens. Used for prefix sharing and to set up long contexts once in
  // benchmarks. The default returns UNIMPLEMENTED.
  // REQUIRES: `session` came from this engine.
  virtual absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const;

  // Cost of the next Step of `session` (which depends on its context).
  virtual StepCost NextStepCost(const Session& session) const = 0;

  // The pool all sessions of this engine draw from.
  virtual const KvBlockPool& pool() const = 0;

  // Frees the per-thread scratch buffers that the calling thread's forward
  // passes keep between calls (they stay at the largest batch or chunk met),
  // so an idle server gives that memory back (docs/overload.md "Memory given
  // back"). The next Step or Prefill on that thread grows them again; no
  // output changes. The default does nothing.
  // REQUIRES: called on the thread that runs this engine's Step/Prefill (the
  //           scheduler's loop), between calls: other threads' scratch stays.
  virtual void ReleaseScratch() const {}

  // The pool's budget and usage now (thread-safe, like the pool). The
  // server's view of the budget: it never sees the pool.
  StateBudget budget() const;

  // The weights as named tensors, for reference checks and loaders.
  virtual const class TensorMap& weights() const = 0;

  // The tokenizer that maps text to this engine's ids (docs/tokenizers.md),
  // or null when it speaks token ids only (the built-in presets). It lives
  // as long as the engine.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // Called once by the loader, before the engine is shared between threads.
  void AttachTokenizer(std::shared_ptr<const Tokenizer> tokenizer) {
    tokenizer_ = std::move(tokenizer);
  }

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
};

// engine.info() plus what the loader attached (the tokenizer): what the
// server reports in ListEngines and SessionOpened.
v1::EngineInfo PublicEngineInfo(const Engine& engine);

// Lets engine steps run on the calling thread use up to `threads` threads
// (the matmuls and the per-row work ops::ParallelFor splits — decode
// attention per session, the Mamba scan per channel block — run on an OpenMP
// team). Per calling thread: a server gives each engine's scheduler thread
// its share of the cores. The default, before any call, is 1 (or the
// TRILEMMA_MATMUL_THREADS environment variable). Idle team threads must
// sleep rather than spin — run with OMP_WAIT_POLICY=PASSIVE and
// GOMP_SPINCOUNT=10000 (a short spin, then sleep), which the server binary
// sets for itself (docs/performance.md).
// REQUIRES: threads >= 1.
void SetStepThreads(int threads);

// What a factory gets: the hosted name, the family, the knobs as strings
// (validated by the family; unknown knobs are INVALID_ARGUMENT) and the state
// budget of the pool the engine creates. With `checkpoint` set the engine is
// loaded from that Hugging Face model directory instead, and the family comes
// from its config.json (docs/checkpoints.md).
struct EngineSpec {
  std::string name;
  std::string family;
  std::map<std::string, std::string> knobs;
  int64_t state_budget_bytes = int64_t{1} << 30;
  // Initialised so designated initialisers may leave it out.
  std::string checkpoint = {};
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_ENGINE_H_
