// Mamba checkpoints: MambaForCausalLM in the Hugging Face layout of the
// state-spaces/mamba-*-hf models, served on the layer stack with
// SelectiveSsmMixer (see its header for the mixer's equations).
//
//   h = embeddings[tokens]                         [R, d]
//   per layer:  h += mixer(RMSNorm(h))             [R, d]   (no FFN)
//   logits = RMSNorm(h, norm_f) · Wᵀ               [R, V]   W tied unless
//                                                           lm_head is given
// use_bias adds in_proj/out_proj biases; use_conv_bias the conv bias;
// time_step_rank "auto" is ceil(d / 16); d_inner is intermediate_size
// (default expand·d).
//
// Knobs: none beyond the checkpoint.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/mamba/selective_ssm_mixer.h"
#include "engines/registry.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kHfName[] = "MambaForCausalLM";

absl::StatusOr<std::unique_ptr<Engine>> LoadMamba(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  Knobs knobs(spec.knobs);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  const int d = static_cast<int>(config->Int("hidden_size", 1, 65536));
  const int layers =
      static_cast<int>(config->Int("num_hidden_layers", 1, 1024));
  const int vocab = static_cast<int>(config->Int("vocab_size", 1, 1 << 22));
  const int n = static_cast<int>(config->IntOr("state_size", 16, 1, 1024));
  const int expand = static_cast<int>(config->IntOr("expand", 2, 1, 64));
  const int di = static_cast<int>(
      config->IntOr("intermediate_size", int64_t{expand} * d, 1, 1 << 20));
  const int conv = static_cast<int>(config->IntOr("conv_kernel", 4, 1, 64));
  const int auto_rank = (d + 15) / 16;
  const int rank = static_cast<int>(
      config->IsString("time_step_rank")
          ? (config->StringOr("time_step_rank", "auto") == "auto" ? auto_rank
                                                                  : -1)
          : config->IntOr("time_step_rank", auto_rank, 1, 65536));
  const float eps =
      static_cast<float>(config->FloatOr("layer_norm_epsilon", 1e-5, 0.0, 1.0));
  const bool use_bias = config->BoolOr("use_bias", false);
  const bool use_conv_bias = config->BoolOr("use_conv_bias", true);
  const bool tied = config->BoolOr("tie_word_embeddings", true);
  const std::string act = config->StringOr("hidden_act", "silu");
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  if (rank < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        config->path(), ": time_step_rank must be an integer or \"auto\""));
  }
  if (act != "silu") {
    return absl::InvalidArgumentError(
        absl::StrCat(config->path(), ": hidden_act '", act,
                     "' is not supported; supported: silu"));
  }

  CheckpointTensors t(dir);
  const std::string p = "backbone.layers.";
  LayerStack stack;
  stack.frame.d_model = d;
  stack.frame.vocab = vocab;
  stack.frame.embed = t.Take("backbone.embeddings.weight", {vocab, d});
  stack.frame.final_norm = {
      Norm::Kind::kRms, t.Take("backbone.norm_f.weight", {d}), nullptr, eps, d};
  stack.frame.readout =
      tied ? stack.frame.embed : t.Take("lm_head.weight", {vocab, d});
  for (int l = 0; l < layers; ++l) {
    auto name = [&](const std::string& s) { return LayerName(p, l, s); };
    StackBlock block;
    block.norm = {Norm::Kind::kRms, t.Take(name("norm.weight"), {d}), nullptr,
                  eps, d};
    SelectiveSsmMixer::Weights w;
    w.in_proj = t.Take(name("mixer.in_proj.weight"), {2 * di, d});
    w.in_proj_bias = t.TakeIf(use_bias, name("mixer.in_proj.bias"), {2 * di});
    w.conv = t.Take(name("mixer.conv1d.weight"), {di, 1, conv});
    w.conv_bias = t.TakeIf(use_conv_bias, name("mixer.conv1d.bias"), {di});
    w.x_proj = t.Take(name("mixer.x_proj.weight"), {rank + 2 * n, di});
    w.dt_proj = t.Take(name("mixer.dt_proj.weight"), {di, rank});
    w.dt_bias = t.Take(name("mixer.dt_proj.bias"), {di});
    w.a_log = t.Take(name("mixer.A_log"), {di, n});
    w.d_skip = t.Take(name("mixer.D"), {di});
    w.out_proj = t.Take(name("mixer.out_proj.weight"), {d, di});
    w.out_proj_bias = t.TakeIf(use_bias, name("mixer.out_proj.bias"), {d});
    if (w.out_proj == nullptr) break;  // an error is pending; Finish says it
    block.mixer = std::make_unique<SelectiveSsmMixer>(
        SelectiveSsmMixer::Config{.d_model = d,
                                  .d_inner = di,
                                  .state = n,
                                  .dt_rank = rank,
                                  .conv = conv},
        w);
    stack.blocks.push_back(std::move(block));
  }
  absl::StatusOr<std::shared_ptr<const TensorMap>> weights =
      t.Finish([](const std::string&) { return false; });
  if (!weights.ok()) return weights.status();

  v1::EngineInfo info;
  FillCheckpointInfo(spec, kHfName, d, layers, vocab, &info);
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_state_dim(n);
  info.set_flops_formula(absl::StrCat(
      "L*(4*d*di + 2*K*di + 2*di*(R+2N) + 2*R*di + di*(7N+4) + 2*di*d) + "
      "2*V*d  (L = ",
      layers, ", d = ", d, ", di = ", di, ", N = ", n, ", R = ", rank,
      ", K = ", conv, ", V = ", vocab, ")"));
  info.set_state_formula("L*di*(K-1+N)*4  (fixed)");
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), *std::move(weights), std::move(stack),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kHfName, .family = "mamba", .loader = LoadMamba});

}  // namespace
}  // namespace trilemma
