#include "engines/common/circuit_stack.h"

#include <cmath>
#include <utility>
#include <vector>

#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/ops/attention.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/stack/layer_stack_engine.h"

namespace trilemma {
namespace {

class SoftmaxKvMixer final : public TokenMixer {
 public:
  SoftmaxKvMixer(int heads, int head_dim)
      : heads_(heads),
        head_dim_(head_dim),
        scale_(1.0f / std::sqrt(static_cast<float>(head_dim))) {}

  int64_t fixed_floats() const override { return 0; }
  bool keeps_kv() const override { return true; }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    state.kv->WriteKey(state.kv_layer, state.slot, k);  // in the KV format
    state.kv->WriteValue(state.kv_layer, state.slot, v);
    ops::AttendSlots(q, heads_, head_dim_, scale_, *state.kv, state.kv_layer,
                     state.held, o, state.attention_probs);
  }

  int64_t Flops(int64_t held) const override {
    return ops::AttendFlops(held, int64_t{heads_} * head_dim_);
  }

 private:
  const int heads_;
  const int head_dim_;
  const float scale_;
};

class QkvCircuitMixer final : public Mixer {
 public:
  QkvCircuitMixer(const TensorMap& weights, int layer,
                  std::unique_ptr<TokenMixer> core, int kv_dim)
      : block_(weights, layer), core_(std::move(core)), kv_dim_(kv_dim) {}

  MixerStateDecl state() const override {
    return {.fixed_floats = block_.d_model() + core_->fixed_floats(),
            .kv_dim = core_->keeps_kv() ? kv_dim_ : 0};
  }

  void Forward(const float* x, absl::Span<const MixerRow> rows,
               float* out) const override {
    const int64_t r_count = static_cast<int64_t>(rows.size());
    const int d = block_.d_model(), qk = block_.qk_dim(), dv = block_.v_dim();
    struct Scratch {
      QkvScratch s;
      std::vector<float*> prev;
      std::vector<float> probs;
    };
    Scratch& buffers = ops::ThreadScratch<Scratch>();
    QkvScratch& s = buffers.s;
    std::vector<float*>& prev = buffers.prev;
    std::vector<float>& probs = buffers.probs;
    s.Resize(r_count, d, qk, dv);
    prev.resize(r_count);
    for (int64_t r = 0; r < r_count; ++r) prev[r] = rows[r].fixed;
    block_.ProjectNormed(x, r_count, prev.data(),
                         &s);  // q, k: [R, qk]; v: [R, dv]
    for (int64_t r = 0; r < r_count; ++r) {
      const MixerRow& row = rows[r];
      MixerState state{.fixed = row.fixed + d,
                       .kv = row.kv,
                       .kv_layer = row.kv_layer,
                       .slot = row.slot,
                       .held = row.held,
                       .attention_probs = nullptr,
                       .external = row.external};
      if (row.observer != nullptr) {
        probs.resize(row.held);
        state.attention_probs = probs.data();
      }
      core_->Mix(&s.q[r * qk], &s.k[r * qk], &s.v[r * dv], state,
                 &s.o[r * dv]);  // o: [dv]
      if (row.observer != nullptr) {
        row.observer->ObserveAttention(row.kv_layer, probs.data(), row.held);
      }
    }
    block_.OutputTo(r_count, &s, out);  // [R, d]
  }

  int64_t Flops(int64_t held) const override {
    return block_.Flops() + core_->Flops(core_->keeps_kv() ? held : 0);
  }

 private:
  QkvBlock block_;
  std::unique_ptr<TokenMixer> core_;
  int kv_dim_;
};

}  // namespace

std::unique_ptr<TokenMixer> MakeSoftmaxKvMixer(int heads, int head_dim) {
  return std::make_unique<SoftmaxKvMixer>(heads, head_dim);
}

MixerStack SoftmaxKvStack(int layers, int heads, int head_dim,
                          KvPolicySpec kv) {
  MixerStack stack;
  for (int l = 0; l < layers; ++l) {
    stack.mixers.push_back(MakeSoftmaxKvMixer(heads, head_dim));
  }
  stack.kv = std::move(kv);
  stack.kv_dim = heads * head_dim;
  return stack;
}

std::unique_ptr<Mixer> MakeQkvCircuitMixer(const TensorMap& weights, int layer,
                                           std::unique_ptr<TokenMixer> core,
                                           int kv_dim) {
  return std::make_unique<QkvCircuitMixer>(weights, layer, std::move(core),
                                           kv_dim);
}

namespace {

// Frame and blocks of a preset stack: tied codebook readout, a final RMSNorm
// "norm_f", and per block an RMSNorm "layers.l.norm" before make_mixer's
// mixer.
LayerStack CodebookStack(const TensorMap& w, int layers,
                         const PresetMixerFactory& make_mixer) {
  LayerStack stack;
  const Tensor& embed = w.Get("embed");
  stack.frame.vocab = static_cast<int>(embed.shape[0]);
  stack.frame.d_model = static_cast<int>(embed.shape[1]);
  stack.frame.embed = embed.ptr();
  stack.frame.readout = embed.ptr();  // tied to the codebook
  stack.frame.final_norm = {.kind = Norm::Kind::kRms,
                            .weight = w.Data("norm_f"),
                            .bias = nullptr,
                            .eps = kRmsNormEps,
                            .width = stack.frame.d_model};
  for (int layer = 0; layer < layers; ++layer) {
    StackBlock block;
    block.norm = {.kind = Norm::Kind::kRms,
                  .weight = w.Data(LayerTensor(layer, "norm")),
                  .bias = nullptr,
                  .eps = kRmsNormEps,
                  .width = stack.frame.d_model};
    block.mixer = make_mixer(w, layer);
    stack.blocks.push_back(std::move(block));
  }
  return stack;
}

}  // namespace

std::unique_ptr<Engine> MakePresetStackEngine(
    v1::EngineInfo info, TensorMap weights, int layers,
    const PresetMixerFactory& make_mixer, int64_t state_budget_bytes) {
  auto shared = std::make_shared<const TensorMap>(std::move(weights));
  LayerStack stack = CodebookStack(*shared, layers, make_mixer);
  return std::make_unique<LayerStackEngine>(
      std::move(info), std::move(shared), std::move(stack), state_budget_bytes);
}

std::unique_ptr<Engine> MakeCircuitStackEngine(v1::EngineInfo info,
                                               TensorMap weights,
                                               MixerStack mixers,
                                               int64_t state_budget_bytes) {
  auto shared = std::make_shared<const TensorMap>(std::move(weights));
  const int kv_dim = mixers.kv_dim;
  LayerStack stack =
      CodebookStack(*shared, static_cast<int>(mixers.mixers.size()),
                    [&](const TensorMap& w, int layer) {
                      return MakeQkvCircuitMixer(
                          w, layer, std::move(mixers.mixers[layer]), kv_dim);
                    });
  stack.kv = std::move(mixers.kv);
  stack.block_tokens = info.block_tokens() > 0 ? info.block_tokens() : 16;
  return std::make_unique<LayerStackEngine>(
      std::move(info), std::move(shared), std::move(stack), state_budget_bytes);
}

}  // namespace trilemma
