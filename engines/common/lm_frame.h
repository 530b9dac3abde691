// LmFrame: what every built-in model shares around its mixer blocks — the
// token codebook (embedding), the final RMSNorm and the readout tied to the
// codebook — plus the knobs and weight-building helpers common to all presets.
//
// The layer stack (circuit_stack.h) embeds and reads out through these
// tensors; LmFrame's Readout is the same readout on its own (benchmarks):
//
//   logits = RmsNorm(h, norm_f) · Eᵀ           [B, V]
//
// Thread-safe: immutable after construction.
#ifndef TRILEMMA_ENGINES_COMMON_LM_FRAME_H_
#define TRILEMMA_ENGINES_COMMON_LM_FRAME_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engines/common/knobs.h"
#include "engines/common/tensor_map.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

// Knobs every preset takes.
struct CommonKnobs {
  int d_model = 128;
  int vocab = 8192;
  // Blocks stacked; only block 0 carries the circuit (the `depth` knob, README
  // "Engines").
  int depth = 1;
  // "circuit": closed-form recall weights; "random": small random weights
  // (for reference checks of the general math).
  std::string init = "circuit";
  uint64_t seed = 1234;
  // KV block size in tokens (attention-family state).
  int block_tokens = 16;
};

// Reads d_model, vocab, depth, init, seed and block_tokens.
CommonKnobs ReadCommonKnobs(Knobs& knobs);

// The codebook constant: channel 0 of every code is this bias value, so
// circuit projections can be affine; the other channels are N(0, 1/d).
inline constexpr float kBiasChannelValue = 0.25f;

// Fills "embed" [V, d] (the shared seeded codebook; for init=random too, so
// every engine sees the same token codes) and "norm_f" [d] (ones).
void AddFrameWeights(const CommonKnobs& common, TensorMap* weights);

// Gaussian fill helper for random init: data[i] ~ N(mean, stddev²).
void FillNormal(float* data, int64_t n, float mean, float stddev,
                std::mt19937_64& rng);

class LmFrame {
 public:
  // REQUIRES: weights has "embed" [V, d] and "norm_f" [d] and outlives this.
  explicit LmFrame(const TensorMap& weights);

  int d_model() const { return d_; }
  int vocab() const { return vocab_; }

  // logits [B, V] from the residual stream h [B, d]; `normed` is [B, d]
  // scratch. Does nothing when logits is null (see Engine::Step).
  void Readout(const float* h, int64_t batch, float* normed,
               float* logits) const;

 private:
  const float* embed_;
  const float* norm_f_;
  int d_;
  int vocab_;
};

// Fills the fields of EngineInfo that come from the common knobs and spec.
void FillCommonInfo(const std::string& name, const std::string& family,
                    const CommonKnobs& common, v1::EngineInfo* info);

// Epsilon of every RMSNorm in the built-in models.
inline constexpr float kRmsNormEps = 1e-6f;

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_LM_FRAME_H_
