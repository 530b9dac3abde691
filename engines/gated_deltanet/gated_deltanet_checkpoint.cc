// Gated DeltaNet checkpoints: GatedDeltaNetForCausalLM in the Hugging Face
// layout flash-linear-attention (fla) writes, served on the layer stack with
// GatedDeltaNetMixer (its header has the mixer's equations).
//
//   h = model.embeddings[tokens]                           [R, d]
//   per layer:  h += attn(RMSNorm(h, attn_norm))            [R, d]
//               h += mlp(RMSNorm(h, mlp_norm))              [R, d]  SwiGLU
//   logits = RMSNorm(h, model.norm) · Wᵀ                    [R, V]  W =
//            lm_head, or the embeddings when tie_word_embeddings
// Config: num_heads, head_dim, expand_v (head_v_dim = head_dim·expand_v),
// num_v_heads (default num_heads), use_gate, use_short_conv, conv_size,
// allow_neg_eigval, norm_eps, intermediate_size or hidden_ratio (fla's
// GatedMLP: ⌈d·ratio·2/3 / 256⌉·256). Hybrid attention layers (`attn`) and
// attention residuals (`attnres_block_size`) are refused.
//
// Knobs: none beyond the checkpoint.
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/gated_deltanet/gated_deltanet_mixer.h"
#include "engines/registry.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kHfName[] = "GatedDeltaNetForCausalLM";

absl::StatusOr<std::unique_ptr<Engine>> LoadGatedDeltaNet(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  Knobs knobs(spec.knobs);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  const int d = static_cast<int>(config->Int("hidden_size", 1, 65536));
  const int layers =
      static_cast<int>(config->Int("num_hidden_layers", 1, 1024));
  const int vocab = static_cast<int>(config->Int("vocab_size", 1, 1 << 22));
  const int heads = static_cast<int>(config->IntOr("num_heads", 6, 1, 1024));
  const int v_heads =
      static_cast<int>(config->IntOr("num_v_heads", heads, 1, 4096));
  const int dk = static_cast<int>(config->IntOr("head_dim", 256, 1, 65536));
  const double expand_v = config->FloatOr("expand_v", 2.0, 1e-3, 1024.0);
  const bool gate = config->BoolOr("use_gate", true);
  const bool short_conv = config->BoolOr("use_short_conv", true);
  const int conv = static_cast<int>(config->IntOr("conv_size", 4, 1, 64));
  const bool neg_eigval = config->BoolOr("allow_neg_eigval", false);
  const float eps =
      static_cast<float>(config->FloatOr("norm_eps", 1e-6, 0.0, 1.0));
  const int ratio = static_cast<int>(config->IntOr("hidden_ratio", 4, 1, 64));
  const int ff_default = (d * ratio * 2 / 3 + 255) / 256 * 256;
  const int ff = static_cast<int>(
      config->IntOr("intermediate_size", ff_default, 1, 1 << 22));
  const std::string act = config->StringOr("hidden_act", "swish");
  const bool tied = config->BoolOr("tie_word_embeddings", false);
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  auto refuse = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": ", what, " is not supported"));
  };
  if (act != "swish" && act != "silu") {
    return refuse(absl::StrCat("hidden_act '", act, "' (supported: swish)"));
  }
  if (config->Has("attn")) return refuse("'attn' (hybrid attention layers)");
  if (config->Has("attnres_block_size")) return refuse("'attnres_block_size'");
  const double dv_exact = dk * expand_v;
  const int dv = static_cast<int>(std::lround(dv_exact));
  if (dv < 1 || std::abs(dv_exact - dv) > 1e-5 * dv_exact) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": head_dim ", dk, " x expand_v ",
                     expand_v, " is not an integer"));
  }
  if (v_heads % heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": num_v_heads ", v_heads,
                     " is not a multiple of num_heads ", heads));
  }
  const int kd = heads * dk, vd = v_heads * dv;
  const int k = short_conv ? conv : 0;

  CheckpointTensors t(std::move(dir));
  LayerStack stack;
  stack.frame.d_model = d;
  stack.frame.vocab = vocab;
  stack.frame.embed = t.Take("model.embeddings.weight", {vocab, d});
  stack.frame.final_norm = {Norm::Kind::kRms, t.Take("model.norm.weight", {d}),
                            nullptr, eps, d};
  stack.frame.readout =
      tied ? stack.frame.embed : t.Take("lm_head.weight", {vocab, d});
  for (int l = 0; l < layers; ++l) {
    auto name = [&](const std::string& s) {
      return LayerName("model.layers.", l, s);
    };
    StackBlock block;
    block.norm = {Norm::Kind::kRms, t.Take(name("attn_norm.weight"), {d}),
                  nullptr, eps, d};
    GatedDeltaNetMixer::Weights w;
    w.q_proj = t.Take(name("attn.q_proj.weight"), {kd, d});
    w.k_proj = t.Take(name("attn.k_proj.weight"), {kd, d});
    w.v_proj = t.Take(name("attn.v_proj.weight"), {vd, d});
    w.a_proj = t.Take(name("attn.a_proj.weight"), {v_heads, d});
    w.b_proj = t.Take(name("attn.b_proj.weight"), {v_heads, d});
    w.g_proj = t.TakeIf(gate, name("attn.g_proj.weight"), {vd, d});
    w.a_log = t.Take(name("attn.A_log"), {v_heads});
    w.dt_bias = t.Take(name("attn.dt_bias"), {v_heads});
    w.q_conv = t.TakeIf(k > 0, name("attn.q_conv1d.weight"), {kd, 1, k});
    w.k_conv = t.TakeIf(k > 0, name("attn.k_conv1d.weight"), {kd, 1, k});
    w.v_conv = t.TakeIf(k > 0, name("attn.v_conv1d.weight"), {vd, 1, k});
    w.o_norm = t.Take(name("attn.o_norm.weight"), {dv});
    w.o_proj = t.Take(name("attn.o_proj.weight"), {d, vd});
    block.ffn_norm = {Norm::Kind::kRms, t.Take(name("mlp_norm.weight"), {d}),
                      nullptr, eps, d};
    const float* ffn_gate = t.Take(name("mlp.gate_proj.weight"), {ff, d});
    const float* ffn_up = t.Take(name("mlp.up_proj.weight"), {ff, d});
    const float* ffn_down = t.Take(name("mlp.down_proj.weight"), {d, ff});
    if (ffn_down == nullptr) break;  // an error is pending; Finish says it
    block.mixer = std::make_unique<GatedDeltaNetMixer>(
        GatedDeltaNetMixer::Config{.d_model = d,
                                   .heads = heads,
                                   .v_heads = v_heads,
                                   .head_k_dim = dk,
                                   .head_v_dim = dv,
                                   .conv = k,
                                   .gate = gate,
                                   .neg_eigval = neg_eigval,
                                   .norm_eps = eps},
        w);
    block.ffn = Ffn::SwiGlu(d, ff, ffn_gate, ffn_up, ffn_down);
    block.residual = StackBlock::Residual::kSequential;
    stack.blocks.push_back(std::move(block));
  }
  absl::StatusOr<std::shared_ptr<const TensorMap>> weights =
      t.Finish([](const std::string&) { return false; });
  if (!weights.ok()) return weights.status();

  v1::EngineInfo info;
  FillCheckpointInfo(spec, kHfName, d, layers, vocab, &info);
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(v_heads);
  info.mutable_shape()->set_head_dim(dv);
  info.mutable_shape()->set_state_dim(dk);
  info.set_flops_formula(absl::StrCat(
      "L*(2*d*(2kd + 2vd + 2HV) + 2*K*(2kd+vd) + 4*H*(dk+1) + "
      "HV*dv*(7dk + 12) + 2*vd*d + 6*d*ff) + 2*V*d  (L = ",
      layers, ", d = ", d, ", H = ", heads, ", HV = ", v_heads, ", dk = ", dk,
      ", dv = ", dv, ", kd = H*dk, vd = HV*dv, K = ", k, ", ff = ", ff,
      ", V = ", vocab, "; flat in n)"));
  info.set_state_formula(
      "L*((K-1)*(2kd+vd) + HV*dv*dk)*4  (fixed: conv windows + delta-rule "
      "memory)");
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), *std::move(weights), std::move(stack),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kHfName,
    .family = "gated_deltanet",
    .loader = LoadGatedDeltaNet});

}  // namespace
}  // namespace trilemma
