// The preset shared by softmax-attention engines (attention, sliding_window,
// kv_evict, and the attention parts of hybrid and memory): knobs heads, beta,
// out_gain and the weights of `depth` QkvBlocks over the frame.
//
// Circuit: scale·q·k = β·x_t·x_{t-1} (scale = 1/√head_dim), v = x_t, and
// Wo = out_gain·I, so a query code retrieves the value stored after its key;
// blocks 2.. have a zero output projection.
#ifndef TRILEMMA_ENGINES_COMMON_SOFTMAX_PRESET_H_
#define TRILEMMA_ENGINES_COMMON_SOFTMAX_PRESET_H_

#include <cmath>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"

namespace trilemma {

struct SoftmaxPreset {
  int heads = 1;
  float beta = 40.0f;
  float out_gain = 8.0f;
  int head_dim(int d_model) const { return d_model / heads; }
};

inline SoftmaxPreset ReadSoftmaxKnobs(Knobs& knobs) {
  SoftmaxPreset p;
  p.heads = static_cast<int>(knobs.Int("heads", p.heads, 1, 64));
  p.beta = static_cast<float>(knobs.Float("beta", p.beta, 0.0, 1e4));
  p.out_gain =
      static_cast<float>(knobs.Float("out_gain", p.out_gain, 0.0, 1e4));
  return p;
}

// Frame + `common.depth` softmax blocks, starting at layer `first_layer`.
// INVALID_ARGUMENT when heads does not divide d_model.
inline absl::Status AddSoftmaxBlocks(const CommonKnobs& common,
                                     const SoftmaxPreset& p, int first_layer,
                                     int layers, std::mt19937_64& rng,
                                     TensorMap* weights) {
  const int d = common.d_model;
  if (d % p.heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("knobs.heads: ", p.heads, " does not divide d_model ", d));
  }
  for (int l = first_layer; l < first_layer + layers; ++l) {
    QkvBlockSpec block{
        .d_model = d,
        .qk_dim = d,
        .v_dim = d,
        .init = common.init,
        .q_gain = p.beta * std::sqrt(static_cast<float>(p.head_dim(d))),
        .out_gain = p.out_gain,
        .zero_output = l > 0};
    AddQkvBlockWeights(block, l, rng, weights);
  }
  return absl::OkStatus();
}

// Text for EngineInfo.description about the depth filler blocks.
inline std::string DepthNote(const CommonKnobs& common) {
  return common.depth > 1 ? absl::StrCat("; blocks 2..", common.depth,
                                         " have a zero output projection "
                                         "(they cost compute and state only)")
                          : "";
}

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_SOFTMAX_PRESET_H_
