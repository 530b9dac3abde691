// The `null` engine: does no work and holds no state. It exists to measure
// the server's own per-token cost (BM_StreamOverhead): every step writes
// logits that make greedy decoding emit (token + 1) mod vocab. Hidden from
// the default engine set; host it explicitly (--engines=null or a config).
#include <algorithm>
#include <memory>

#include "engines/common/knobs.h"
#include "engines/common/tensor_map.h"
#include "engines/engine.h"
#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"

namespace trilemma {
namespace {

class NullSession final : public Session {
 public:
  int64_t state_bytes() const override { return 0; }
  int64_t context_tokens() const override { return tokens_; }
  int64_t state_bytes_after(int64_t) const override { return 0; }
  absl::Status Reserve(int64_t) override { return absl::OkStatus(); }
  void Advance() { ++tokens_; }

 private:
  int64_t tokens_ = 0;
};

class NullEngine final : public Engine {
 public:
  NullEngine(v1::EngineInfo info, int64_t budget)
      : info_(std::move(info)), pool_(info_.name(), budget, 4) {
    info_.set_state_budget_bytes(budget);
  }

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return pool_; }
  const TensorMap& weights() const override { return weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override {
    return std::make_unique<NullSession>();
  }
  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override {
    return std::make_unique<NullSession>(
        static_cast<const NullSession&>(session));
  }

  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override {
    const int vocab = info_.shape().vocab();
    for (size_t b = 0; b < sessions.size(); ++b) {
      static_cast<NullSession*>(sessions[b])->Advance();
      if (logits == nullptr) continue;
      float* row = logits + b * vocab;
      std::fill(row, row + vocab, 0.0f);
      row[(tokens[b] + 1) % vocab] = 1.0f;
    }
    return absl::OkStatus();
  }

  StepCost NextStepCost(const Session&) const override { return {}; }

 private:
  v1::EngineInfo info_;
  TensorMap weights_;
  KvBlockPool pool_;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateNullEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const int64_t vocab = knobs.Int("vocab", 8192, 2, 262144);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  v1::EngineInfo info;
  info.set_name(spec.name);
  info.set_family("null");
  info.set_description(
      "no-op engine for measuring server overhead: emits (token+1) mod vocab, "
      "holds no state, costs no FLOPs");
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_vocab(static_cast<int32_t>(vocab));
  info.mutable_shape()->set_layers(0);
  info.set_flops_formula("0");
  info.set_state_formula("0");
  knobs.RecordIn(&info);
  return std::make_unique<NullEngine>(std::move(info), spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "null",
    .factory = CreateNullEngine,
    .default_specs = {PresetSpec("null")},
    .hidden = true,
    .conformance_knobs = {{{"vocab", "64"}}},
    .display_order = 1000});

}  // namespace
}  // namespace trilemma
