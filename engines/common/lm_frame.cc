#include "engines/common/lm_frame.h"

#include <cmath>

#include "engines/ops/matmul.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {

CommonKnobs ReadCommonKnobs(Knobs& knobs) {
  CommonKnobs c;
  c.d_model = static_cast<int>(knobs.Int("d_model", c.d_model, 8, 4096));
  c.vocab = static_cast<int>(knobs.Int("vocab", c.vocab, 16, 262144));
  c.depth = static_cast<int>(knobs.Int("depth", c.depth, 1, 64));
  c.init = knobs.Choice("init", c.init, {"circuit", "random"});
  c.seed = static_cast<uint64_t>(knobs.Int("seed", 1234, 0, INT64_MAX));
  c.block_tokens =
      static_cast<int>(knobs.Int("block_tokens", c.block_tokens, 1, 4096));
  return c;
}

void FillNormal(float* data, int64_t n, float mean, float stddev,
                std::mt19937_64& rng) {
  std::normal_distribution<float> normal(mean, stddev);
  for (int64_t i = 0; i < n; ++i) data[i] = normal(rng);
}

void AddFrameWeights(const CommonKnobs& common, TensorMap* weights) {
  const int d = common.d_model;
  const int vocab = common.vocab;
  // The codebook seed is fixed (not the preset seed) so every engine, in any
  // process, sees the same token codes.
  std::mt19937_64 rng(0x7121e33a);
  float* embed = weights->Add("embed", {vocab, d});
  const float stddev = 1.0f / std::sqrt(static_cast<float>(d));
  for (int v = 0; v < vocab; ++v) {
    float* row = embed + static_cast<int64_t>(v) * d;
    row[0] = kBiasChannelValue;
    FillNormal(row + 1, d - 1, 0.0f, stddev, rng);
  }
  float* norm_f = weights->Add("norm_f", {d});
  for (int i = 0; i < d; ++i) norm_f[i] = 1.0f;
}

LmFrame::LmFrame(const TensorMap& weights)
    : embed_(weights.Data("embed")),
      norm_f_(weights.Data("norm_f")),
      d_(static_cast<int>(weights.Get("embed").shape[1])),
      vocab_(static_cast<int>(weights.Get("embed").shape[0])) {}

void LmFrame::Readout(const float* h, int64_t batch, float* normed,
                      float* logits) const {
  if (logits == nullptr) return;  // the caller wants no logits (prefill)
  ops::RmsNorm(h, norm_f_, kRmsNormEps, batch, d_, normed);
  ops::Linear(normed, batch, d_, embed_, vocab_, logits);
}

void FillCommonInfo(const std::string& name, const std::string& family,
                    const CommonKnobs& common, v1::EngineInfo* info) {
  info->set_name(name);
  info->set_family(family);
  v1::EngineShape* shape = info->mutable_shape();
  shape->set_d_model(common.d_model);
  shape->set_vocab(common.vocab);
  shape->set_layers(common.depth);
  shape->set_circuit_layers(common.init == "circuit" ? 1 : common.depth);
}

}  // namespace trilemma
