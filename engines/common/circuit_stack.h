// The built-in circuit presets on the layer stack: the codebook frame
// (embedding, final RMSNorm, readout tied to the codebook) around one QkvBlock
// + TokenMixer per layer. Each family builds its weights and mixers and calls
// MakeCircuitStackEngine; session state, Step, Prefill, Fork and the cost
// model are the layer-stack engine's (engines/stack/layer_stack_engine.h).
//
// Forward pass of one block (QkvBlock's norm is the block norm):
//   xn = RmsNorm(h, layers.l.norm)                           [R, d]
//   q, k, v = token-shifted projections of xn                [R, qk|dv]
//   o = mixer_l(q, k, v; session state)                      [R, dv]
//   h += o · Woᵀ                                             [R, d]
//
// Example:
//   MixerStack stack{.kv = PagedKvPolicy(), .kv_dim = d};
//   for (int l = 0; l < depth; ++l)
//     stack.mixers.push_back(MakeSoftmaxKvMixer(heads, d / heads));
//   return MakeCircuitStackEngine(std::move(info), std::move(weights),
//                                 std::move(stack), spec.state_budget_bytes);
#ifndef TRILEMMA_ENGINES_COMMON_CIRCUIT_STACK_H_
#define TRILEMMA_ENGINES_COMMON_CIRCUIT_STACK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engines/common/tensor_map.h"
#include "engines/common/token_mixer.h"
#include "engines/engine.h"
#include "engines/stack/kv_policy.h"
#include "engines/stack/mixer.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

// The mixers of a circuit stack and how its sessions keep KV.
struct MixerStack {
  std::vector<std::unique_ptr<TokenMixer>> mixers;  // mixers[l]: block l
  KvPolicySpec kv;  // used when any mixer keeps_kv()
  int kv_dim = 0;   // width of one key (and value) row
};

// Softmax attention, per head, of q over the KV rows this block has written
// (slots [0, held) of its KV layer), after writing k and v to `slot`:
//   o_h = Σ_s softmax_s(q_h·k_{s,h} / √head_dim) v_{s,h}
// q, k, v, o: [heads·head_dim]. Full, windowed or evicting as the stack's KV
// policy places the slots.
std::unique_ptr<TokenMixer> MakeSoftmaxKvMixer(int heads, int head_dim);

// `layers` softmax mixers of `heads` heads over KV rows of heads·head_dim,
// kept by `kv`: full attention, windows and eviction differ only there.
MixerStack SoftmaxKvStack(int layers, int heads, int head_dim, KvPolicySpec kv);

// A layer-stack Mixer of block `layer`'s QkvBlock around `core`: fixed state
// [d token-shift floats | core's fixed floats], KV of width kv_dim when the
// core keeps KV.
std::unique_ptr<Mixer> MakeQkvCircuitMixer(const TensorMap& weights, int layer,
                                           std::unique_ptr<TokenMixer> core,
                                           int kv_dim);

// Builds block `layer`'s mixer from the engine's weights (which outlive it).
using PresetMixerFactory =
    std::function<std::unique_ptr<Mixer>(const TensorMap& weights, int layer)>;

// A preset engine on the codebook frame whose block l is RmsNorm(h,
// layers.l.norm) followed by make_mixer(weights, l), for l in [0, layers):
// the families whose mixer is not a QkvBlock (Mamba, Mamba-2, Gated
// DeltaNet). `info` as for MakeCircuitStackEngine. No KV.
//
// Example:
//   return MakePresetStackEngine(
//       std::move(info), std::move(weights), common.depth,
//       [&](const TensorMap& w, int l) { return MakeMyMixer(w, l, shape); },
//       spec.state_budget_bytes);
std::unique_ptr<Engine> MakePresetStackEngine(
    v1::EngineInfo info, TensorMap weights, int layers,
    const PresetMixerFactory& make_mixer, int64_t state_budget_bytes);

// The engine: frame tensors "embed" / "norm_f" and QkvBlock tensors of
// layers 0..L-1 in `weights`; info complete but for the state fields (the
// engine fills them) and block_tokens (read from info).
std::unique_ptr<Engine> MakeCircuitStackEngine(v1::EngineInfo info,
                                               TensorMap weights,
                                               MixerStack stack,
                                               int64_t state_budget_bytes);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_CIRCUIT_STACK_H_
