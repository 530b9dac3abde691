// The mamba family's shape knobs and its built-in weights (circuit or random).
//
// Tensors for block l (prefix "layers.<l>.", Hugging Face Mamba names):
//   norm [d], in_proj [2·di, d], conv_w [di, K], conv_b [di],
//   x_proj [R + 2N, di], dt_proj [di, R], dt_bias [di], A_log [di, N],
//   D [di], out_proj [d, di]
// with di = expand·d, K = conv_kernel, R = dt_rank, N = state_dim.
#ifndef TRILEMMA_ENGINES_MAMBA_MAMBA_PRESET_H_
#define TRILEMMA_ENGINES_MAMBA_MAMBA_PRESET_H_

#include "absl/status/statusor.h"
#include "engines/common/knobs.h"
#include "engines/common/lm_frame.h"
#include "engines/common/tensor_map.h"

namespace trilemma {

struct MambaShape {
  int d_model = 128;
  int d_inner = 256;   // expand · d_model
  int state_dim = 16;  // N
  int conv_kernel = 4;
  int dt_rank = 8;
  int layers = 1;
};

// Circuit constants (knobs) — see BuildMambaWeights.
struct MambaCircuit {
  float delta = 1.0f;     // Δ the SSM steps with
  float forget = 1e-4f;   // -A: per-step decay exp(-Δ·forget)
  float in_scale = 0.1f;  // keeps SiLU's input in its near-linear region
  float gate = 20.0f;     // z, so SiLU(z) ≈ z is a constant gain
  float out_gain = 8.0f;  // answer's weight in the residual stream
};

// Reads expand, state_dim, conv_kernel, dt_rank and the circuit knobs.
MambaShape ReadMambaShape(const CommonKnobs& common, Knobs& knobs,
                          MambaCircuit* circuit);

// Adds every block's tensors. INVALID_ARGUMENT when the circuit cannot be
// built for the shape (it needs d_inner >= 2·d_model: a key channel group
// and a value channel group).
absl::Status BuildMambaWeights(const CommonKnobs& common,
                               const MambaShape& shape,
                               const MambaCircuit& circuit, TensorMap* weights);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_MAMBA_MAMBA_PRESET_H_
