// The RWKV-7 model on the layer stack, shared by the checkpoint loader
// (rwkv7_checkpoint.cc) and the built-in preset (rwkv7_preset.cc): the
// tensors of flash-linear-attention's RWKV7ForCausalLM by name and shape, and
// the LayerStack made of them.
//
//   h = E[tokens]; layer 0 with norm_first: h = LayerNorm(h, pre_norm)  [R, d]
//   per layer:  h += TimeMix(LayerNorm(h, attn_norm))                  [R, d]
//               h += ChannelMix(LayerNorm(h, ffn_norm))                [R, d]
//   logits = LayerNorm(h, model.norm) · Wᵀ                             [R, V]
// The pre_norm of the embedding is row-wise, so it is applied once per
// vocabulary row at load ("rwkv7.prenormed_embeddings") and the frame embeds
// from that table. Each layer is two stack blocks (rwkv7_mixers.h).
//
// Example:
//   for (const auto& [name, shape] : Rwkv7LayerTensors(shape)) ...
//   LayerStack stack = MakeRwkv7Stack(shape, get, embed, readout);
#ifndef TRILEMMA_ENGINES_RWKV7_RWKV7_STACK_H_
#define TRILEMMA_ENGINES_RWKV7_RWKV7_STACK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engines/common/tensor_map.h"
#include "engines/rwkv7/rwkv7_mixers.h"
#include "engines/stack/layer_stack_engine.h"

namespace trilemma {

using TensorShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Every tensor but the embedding and lm_head, fla names ("model.layers.<l>.
// attn.r_proj.weight", ...), in model order: the layers (pre_norm on layer 0
// with norm_first, LayerNorm biases with norm_bias, the v LoRA from layer 1)
// and "model.norm.*".
TensorShapes Rwkv7LayerTensors(const Rwkv7Shape& shape);

// The name of the pre-normed embedding table a stack embeds from.
inline constexpr char kPrenormedEmbeddings[] = "rwkv7.prenormed_embeddings";

// Adds kPrenormedEmbeddings [V, d]: LayerNorm of every row of `embed` with
// layer 0's pre_norm (read from `weights`), or a copy when !norm_first.
void AddPrenormedEmbeddings(const Rwkv7Shape& shape, const float* embed,
                            TensorMap* weights);

// The stack over `weights` (every Rwkv7LayerTensors tensor and
// kPrenormedEmbeddings); `readout` is [V, d] (lm_head, or the embedding when
// tied). REQUIRES: the tensors are present with their listed shapes.
LayerStack MakeRwkv7Stack(const Rwkv7Shape& shape, const TensorMap& weights,
                          const float* readout);

// Formulas for EngineInfo (multiply-add = 2; bytes of f32 state).
std::string Rwkv7FlopsFormula();
std::string Rwkv7StateFormula();

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_RWKV7_RWKV7_STACK_H_
