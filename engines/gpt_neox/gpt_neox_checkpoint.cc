// GPT-NeoX (Pythia) checkpoints: GPTNeoXForCausalLM in the Hugging Face
// layout, served on the layer stack with RotaryAttentionMixer.
//
//   h = embed_in[tokens]                                   [R, d]
//   per layer:  a = attention(LN₁(h)),  f = MLP(LN₂(h or h + a))
//               parallel residual: h += a + f;  else h += a; h += f
//   logits = final_layer_norm(h) · embed_outᵀ              [R, V]
// Attention fuses q, k, v per head ([H][q|k|v][hd]) with biases and rotates
// the first rotary_pct·hd dims of each head; the MLP is
// dense_4h_to_h(GELU(dense_h_to_4h(x))) with biases and the exact erf GELU.
//
// Knobs: block_tokens (KV block size in tokens, default 16), kv_dtype (f32,
// f16, int8 with a scale per block and head, int4; docs/kv_compression.md).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engines/attention/rotary_attention_mixer.h"
#include "engines/common/knobs.h"
#include "engines/registry.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kHfName[] = "GPTNeoXForCausalLM";

// Buffers older checkpoints carry that the model recomputes.
bool IsLegacyBuffer(const std::string& name) {
  return name.ends_with(".attention.rotary_emb.inv_freq") ||
         name.ends_with(".attention.bias") ||
         name.ends_with(".attention.masked_bias");
}

absl::StatusOr<std::unique_ptr<Engine>> LoadGptNeox(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  Knobs knobs(spec.knobs);
  const int block_tokens =
      static_cast<int>(knobs.Int("block_tokens", 16, 1, 4096));
  KvFormat kv_format = ReadKvDtypeKnob(knobs, /*head_dim=*/0);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  const int d = static_cast<int>(config->Int("hidden_size", 1, 65536));
  const int heads =
      static_cast<int>(config->Int("num_attention_heads", 1, 1024));
  const int layers =
      static_cast<int>(config->Int("num_hidden_layers", 1, 1024));
  const int ff = static_cast<int>(config->Int("intermediate_size", 1, 1 << 20));
  const int vocab = static_cast<int>(config->Int("vocab_size", 1, 1 << 22));
  const double rotary_pct = config->FloatOr("rotary_pct", 0.25, 0.0, 1.0);
  const double theta =
      config->Has("rope_theta")
          ? config->Float("rope_theta", 1.0, 1e12)
          : config->FloatOr("rotary_emb_base", 10000, 1.0, 1e12);
  const float eps =
      static_cast<float>(config->FloatOr("layer_norm_eps", 1e-5, 0.0, 1.0));
  const bool parallel = config->BoolOr("use_parallel_residual", true);
  const bool tied = config->BoolOr("tie_word_embeddings", false);
  const bool attention_bias = config->BoolOr("attention_bias", true);
  const std::string act = config->StringOr("hidden_act", "gelu");
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  if (d % heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": hidden_size ", d,
                     " is not a multiple of num_attention_heads ", heads));
  }
  if (act != "gelu") {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": hidden_act '", act,
                     "' is not supported; supported: gelu"));
  }
  const int head_dim = d / heads;
  // As the reference model computes it: int(head_dim · rotary_pct).
  const int rotary_dims = static_cast<int>(head_dim * rotary_pct);
  if (rotary_dims % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": rotary_pct ", rotary_pct,
                     " gives an odd ", rotary_dims, " rotary dims per head"));
  }

  CheckpointTensors t(dir);
  const std::string p = "gpt_neox.layers.";
  LayerStack stack;
  kv_format.scale_width = head_dim;  // int8: one scale per block and head
  stack.kv = PagedKvPolicy(kv_format);
  stack.block_tokens = block_tokens;
  stack.frame.d_model = d;
  stack.frame.vocab = vocab;
  stack.frame.embed = t.Take("gpt_neox.embed_in.weight", {vocab, d});
  stack.frame.final_norm = {
      Norm::Kind::kLayer, t.Take("gpt_neox.final_layer_norm.weight", {d}),
      t.Take("gpt_neox.final_layer_norm.bias", {d}), eps, d};
  stack.frame.readout =
      tied ? stack.frame.embed : t.Take("embed_out.weight", {vocab, d});
  for (int l = 0; l < layers; ++l) {
    auto name = [&](const std::string& n) { return LayerName(p, l, n); };
    StackBlock block;
    block.norm = {Norm::Kind::kLayer,
                  t.Take(name("input_layernorm.weight"), {d}),
                  t.Take(name("input_layernorm.bias"), {d}), eps, d};
    RotaryAttentionMixer::Weights w;
    w.qkv = t.Take(name("attention.query_key_value.weight"), {3 * d, d});
    w.qkv_bias = t.TakeIf(attention_bias,
                          name("attention.query_key_value.bias"), {3 * d});
    w.o = t.Take(name("attention.dense.weight"), {d, d});
    w.o_bias = t.TakeIf(attention_bias, name("attention.dense.bias"), {d});
    block.ffn_norm = {Norm::Kind::kLayer,
                      t.Take(name("post_attention_layernorm.weight"), {d}),
                      t.Take(name("post_attention_layernorm.bias"), {d}), eps,
                      d};
    block.ffn =
        Ffn::GeluMlp(d, ff, t.Take(name("mlp.dense_h_to_4h.weight"), {ff, d}),
                     t.Take(name("mlp.dense_h_to_4h.bias"), {ff}),
                     t.Take(name("mlp.dense_4h_to_h.weight"), {d, ff}),
                     t.Take(name("mlp.dense_4h_to_h.bias"), {d}));
    block.residual = parallel ? StackBlock::Residual::kParallel
                              : StackBlock::Residual::kSequential;
    block.mixer = std::make_unique<RotaryAttentionMixer>(
        RotaryAttentionMixer::Config{.d_model = d,
                                     .heads = heads,
                                     .kv_heads = heads,
                                     .head_dim = head_dim,
                                     .rotary_dims = rotary_dims,
                                     .rope_theta = theta},
        w);
    stack.blocks.push_back(std::move(block));
  }
  absl::StatusOr<std::shared_ptr<const TensorMap>> weights =
      t.Finish(IsLegacyBuffer);
  if (!weights.ok()) return weights.status();

  v1::EngineInfo info;
  FillCheckpointInfo(spec, kHfName, d, layers, vocab, &info);
  info.mutable_corners()->set_recall(true);
  info.mutable_shape()->set_heads(heads);
  info.mutable_shape()->set_head_dim(head_dim);
  info.set_flops_formula(absl::StrCat(
      "L*(8*d*d + 4*d*ff + 4*n*d) + 2*V*d  (L = ", layers, ", d = ", d,
      ", ff = ", ff, ", V = ", vocab, "; n = context incl. the new token)"));
  info.set_state_formula(
      absl::StrCat("ceil(n/T)*T*2*L*d*4  (T = block_tokens; grows with n)",
                   KvDtypeNote(kv_format)));
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), *std::move(weights), std::move(stack),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kHfName, .family = "gpt_neox", .loader = LoadGptNeox});

}  // namespace
}  // namespace trilemma
