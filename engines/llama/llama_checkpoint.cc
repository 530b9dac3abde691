// Llama checkpoints: LlamaForCausalLM in the Hugging Face layout, served on
// the layer stack with RotaryAttentionMixer (grouped KV heads).
//
//   h = embed_tokens[tokens]                                    [R, d]
//   per layer:  h += o_proj(attention(RMSNorm₁(h)))             [R, d]
//               h += down(SiLU(gate(x)) ⊙ up(x)),  x = RMSNorm₂(h)
//   logits = RMSNorm(h) · Wᵀ,  W = lm_head or embed_tokens when tied
// Rotary over the whole head (rotate-half) with the config's rope_theta;
// every norm uses the config's rms_norm_eps.
//
// MistralForCausalLM is the same tensors and equations with the config's
// `sliding_window` W: each query attends to the last W positions, itself
// included (docs/checkpoints.md, "Sliding window"), kept in a ring of KV blocks
// (RingWindowKvPolicy); a null or absent window is full attention.
//
// Knobs: block_tokens (KV block size in tokens, default 16), kv_dtype (f32,
// f16, int8 with a scale per block and head, int4; docs/kv_compression.md).
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engines/attention/rotary_attention_mixer.h"
#include "engines/common/knobs.h"
#include "engines/registry.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kLlamaName[] = "LlamaForCausalLM";
constexpr char kMistralName[] = "MistralForCausalLM";

bool IsLegacyBuffer(const std::string& name) {
  return name.ends_with(".self_attn.rotary_emb.inv_freq");
}

// Loads either architecture; only Mistral reads `sliding_window`.
absl::StatusOr<std::unique_ptr<Engine>> LoadLlamaLayout(
    bool mistral, const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  const char* hf_name = mistral ? kMistralName : kLlamaName;
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
  const int kv_heads =
      static_cast<int>(config->IntOr("num_key_value_heads", heads, 1, 1024));
  const int layers =
      static_cast<int>(config->Int("num_hidden_layers", 1, 1024));
  const int ff = static_cast<int>(config->Int("intermediate_size", 1, 1 << 20));
  const int vocab = static_cast<int>(config->Int("vocab_size", 1, 1 << 22));
  const int head_dim = static_cast<int>(
      config->IntOr("head_dim", heads > 0 ? d / heads : 1, 2, 4096));
  const double theta = config->FloatOr("rope_theta", 10000, 1.0, 1e12);
  const float eps =
      static_cast<float>(config->FloatOr("rms_norm_eps", 1e-6, 0.0, 1.0));
  const bool tied = config->BoolOr("tie_word_embeddings", false);
  const bool attention_bias = config->BoolOr("attention_bias", false);
  const bool mlp_bias = config->BoolOr("mlp_bias", false);
  const std::string act = config->StringOr("hidden_act", "silu");
  const bool rope_scaling = config->Has("rope_scaling");
  const int64_t window =
      mistral ? config->IntOr("sliding_window", 0, 1, int64_t{1} << 24) : 0;
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  auto unsupported = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": ", what, " is not supported"));
  };
  if (act != "silu") return unsupported(absl::StrCat("hidden_act '", act, "'"));
  if (mlp_bias) return unsupported("mlp_bias = true");
  if (rope_scaling) return unsupported("rope_scaling");
  if (heads % kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": num_attention_heads ", heads,
                     " is not a multiple of num_key_value_heads ", kv_heads));
  }
  if (head_dim % 2 != 0) return unsupported("an odd head_dim");
  const int q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;

  CheckpointTensors t(std::move(dir));
  const std::string p = "model.layers.";
  LayerStack stack;
  kv_format.scale_width = head_dim;  // int8: one scale per block and head
  stack.kv = window > 0 ? RingWindowKvPolicy(window, kv_format)
                        : PagedKvPolicy(kv_format);
  stack.block_tokens = block_tokens;
  stack.frame.d_model = d;
  stack.frame.vocab = vocab;
  stack.frame.embed = t.Take("model.embed_tokens.weight", {vocab, d});
  stack.frame.final_norm = {Norm::Kind::kRms, t.Take("model.norm.weight", {d}),
                            nullptr, eps, d};
  stack.frame.readout =
      tied ? stack.frame.embed : t.Take("lm_head.weight", {vocab, d});
  for (int l = 0; l < layers; ++l) {
    auto name = [&](const std::string& n) { return LayerName(p, l, n); };
    StackBlock block;
    block.norm = {Norm::Kind::kRms, t.Take(name("input_layernorm.weight"), {d}),
                  nullptr, eps, d};
    RotaryAttentionMixer::Weights w;
    w.q = t.Take(name("self_attn.q_proj.weight"), {q_dim, d});
    w.k = t.Take(name("self_attn.k_proj.weight"), {kv_dim, d});
    w.v = t.Take(name("self_attn.v_proj.weight"), {kv_dim, d});
    w.o = t.Take(name("self_attn.o_proj.weight"), {d, q_dim});
    w.q_bias = t.TakeIf(attention_bias, name("self_attn.q_proj.bias"), {q_dim});
    w.k_bias =
        t.TakeIf(attention_bias, name("self_attn.k_proj.bias"), {kv_dim});
    w.v_bias =
        t.TakeIf(attention_bias, name("self_attn.v_proj.bias"), {kv_dim});
    w.o_bias = t.TakeIf(attention_bias, name("self_attn.o_proj.bias"), {d});
    block.mixer = std::make_unique<RotaryAttentionMixer>(
        RotaryAttentionMixer::Config{.d_model = d,
                                     .heads = heads,
                                     .kv_heads = kv_heads,
                                     .head_dim = head_dim,
                                     .rotary_dims = head_dim,
                                     .rope_theta = theta},
        w);
    block.ffn_norm = {Norm::Kind::kRms,
                      t.Take(name("post_attention_layernorm.weight"), {d}),
                      nullptr, eps, d};
    const float* gate = t.Take(name("mlp.gate_proj.weight"), {ff, d});
    const float* up = t.Take(name("mlp.up_proj.weight"), {ff, d});
    const float* down = t.Take(name("mlp.down_proj.weight"), {d, ff});
    block.ffn = Ffn::SwiGlu(d, ff, gate, up, down);
    block.residual = StackBlock::Residual::kSequential;
    stack.blocks.push_back(std::move(block));
  }
  absl::StatusOr<std::shared_ptr<const TensorMap>> weights =
      t.Finish(IsLegacyBuffer);
  if (!weights.ok()) return weights.status();

  v1::EngineInfo info;
  FillCheckpointInfo(spec, hf_name, d, layers, vocab, &info);
  if (window > 0) {  // flat state and per-step cost once n >= W
    info.mutable_corners()->set_efficient(true);
    info.mutable_corners()->set_compact(true);
    info.mutable_shape()->set_window(static_cast<int32_t>(window));
  } else {
    info.mutable_corners()->set_recall(true);
  }
  info.mutable_shape()->set_heads(heads);
  info.mutable_shape()->set_head_dim(head_dim);
  info.set_flops_formula(absl::StrCat(
      "L*(4*d*(H+G)*hd + 6*d*ff + 4*n*H*hd) + 2*V*d  (L = ", layers,
      ", d = ", d, ", H = ", heads, ", G = ", kv_heads, ", hd = ", head_dim,
      ", ff = ", ff, ", V = ", vocab, "; n = context incl. the new token",
      window > 0 ? absl::StrCat(", capped at W = ", window) : "", ")"));
  info.set_state_formula(absl::StrCat(
      window > 0 ? "ceil(min(n,W)/T)*T*2*L*G*hd*4  (T = block_tokens; flat "
                   "once n >= W)"
                 : "ceil(n/T)*T*2*L*G*hd*4  (T = block_tokens; grows with n)",
      KvDtypeNote(kv_format)));
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), *std::move(weights), std::move(stack),
      spec.state_budget_bytes);
}

absl::StatusOr<std::unique_ptr<Engine>> LoadLlama(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  return LoadLlamaLayout(/*mistral=*/false, spec, std::move(dir));
}

absl::StatusOr<std::unique_ptr<Engine>> LoadMistral(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  return LoadLlamaLayout(/*mistral=*/true, spec, std::move(dir));
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kLlamaName, .family = "llama", .loader = LoadLlama});
TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kMistralName, .family = "llama", .loader = LoadMistral});

}  // namespace
}  // namespace trilemma
