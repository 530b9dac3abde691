// Mamba-2 checkpoints: Mamba2ForCausalLM in the Hugging Face transformers
// layout, served on the layer stack with Mamba2Mixer (its header has the
// mixer's equations).
//
//   h = backbone.embeddings[tokens]                  [R, d]
//   per layer:  h += mixer(RMSNorm(h, norm))          [R, d]   (no FFN)
//   logits = RMSNorm(h, norm_f) · Wᵀ                  [R, V]   W = lm_head,
//            or the embeddings when tie_word_embeddings
// Config (transformers' Mamba2Config defaults when a key is absent):
// num_heads, head_dim (num_heads·head_dim must equal expand·hidden_size),
// state_size, n_groups, conv_kernel, use_bias, use_conv_bias,
// layer_norm_epsilon, hidden_act silu, rms_norm true. The gated RMSNorm is
// taken over n_groups groups of d_inner/n_groups channels, as the mamba_ssm
// kernels compute it (transformers' own slow path normalises over all of
// d_inner; the two agree when n_groups = 1). time_step_limit [min, max]
// clamps Δ (default [0, Infinity]: no clamp).
//
// Knobs: none beyond the checkpoint.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/mamba2/mamba2_mixer.h"
#include "engines/registry.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kHfName[] = "Mamba2ForCausalLM";

absl::StatusOr<std::unique_ptr<Engine>> LoadMamba2(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  Knobs knobs(spec.knobs);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  const int d = static_cast<int>(config->Int("hidden_size", 1, 65536));
  const int layers =
      static_cast<int>(config->Int("num_hidden_layers", 1, 1024));
  const int vocab = static_cast<int>(config->Int("vocab_size", 1, 1 << 22));
  const int heads = static_cast<int>(config->IntOr("num_heads", 128, 1, 65536));
  const int p = static_cast<int>(config->IntOr("head_dim", 64, 1, 65536));
  const int n = static_cast<int>(config->IntOr("state_size", 128, 1, 4096));
  const int groups = static_cast<int>(config->IntOr("n_groups", 8, 1, 4096));
  const double expand = config->FloatOr("expand", 2.0, 1e-3, 64.0);
  const int conv = static_cast<int>(config->IntOr("conv_kernel", 4, 1, 64));
  const bool use_bias = config->BoolOr("use_bias", false);
  const bool use_conv_bias = config->BoolOr("use_conv_bias", true);
  const bool rms_norm = config->BoolOr("rms_norm", true);
  const float eps =
      static_cast<float>(config->FloatOr("layer_norm_epsilon", 1e-5, 0.0, 1.0));
  const bool tied = config->BoolOr("tie_word_embeddings", false);
  const std::string act = config->StringOr("hidden_act", "silu");
  const std::vector<double> limit =
      config->FloatListOr("time_step_limit", {0.0, 1e308});
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  auto invalid = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(config->path(), ": ", what));
  };
  if (act != "silu") {
    return invalid(absl::StrCat("hidden_act '", act,
                                "' is not supported; supported: silu"));
  }
  if (!rms_norm) return invalid("rms_norm = false is not supported");
  if (limit.size() != 2 || !(limit[0] >= 0.0 && limit[0] <= limit[1])) {
    return invalid("time_step_limit must be [min, max] with 0 <= min <= max");
  }
  const int di = static_cast<int>(expand * d);
  if (int64_t{heads} * p != di) {
    return invalid(absl::StrCat("num_heads ", heads, " x head_dim ", p,
                                " must equal expand x hidden_size = ", di));
  }
  if (heads % groups != 0) {
    return invalid(absl::StrCat("num_heads ", heads,
                                " is not a multiple of n_groups ", groups));
  }
  const int conv_dim = di + 2 * groups * n;
  const int proj = di + conv_dim + heads;

  CheckpointTensors t(std::move(dir));
  LayerStack stack;
  stack.frame.d_model = d;
  stack.frame.vocab = vocab;
  stack.frame.embed = t.Take("backbone.embeddings.weight", {vocab, d});
  stack.frame.final_norm = {
      Norm::Kind::kRms, t.Take("backbone.norm_f.weight", {d}), nullptr, eps, d};
  stack.frame.readout =
      tied ? stack.frame.embed : t.Take("lm_head.weight", {vocab, d});
  for (int l = 0; l < layers; ++l) {
    auto name = [&](const std::string& s) {
      return LayerName("backbone.layers.", l, s);
    };
    StackBlock block;
    block.norm = {Norm::Kind::kRms, t.Take(name("norm.weight"), {d}), nullptr,
                  eps, d};
    Mamba2Mixer::Weights w;
    w.in_proj = t.Take(name("mixer.in_proj.weight"), {proj, d});
    w.in_proj_bias = t.TakeIf(use_bias, name("mixer.in_proj.bias"), {proj});
    w.conv = t.Take(name("mixer.conv1d.weight"), {conv_dim, 1, conv});
    w.conv_bias =
        t.TakeIf(use_conv_bias, name("mixer.conv1d.bias"), {conv_dim});
    w.dt_bias = t.Take(name("mixer.dt_bias"), {heads});
    w.a_log = t.Take(name("mixer.A_log"), {heads});
    w.d_skip = t.Take(name("mixer.D"), {heads});
    w.norm = t.Take(name("mixer.norm.weight"), {di});
    w.out_proj = t.Take(name("mixer.out_proj.weight"), {d, di});
    w.out_proj_bias = t.TakeIf(use_bias, name("mixer.out_proj.bias"), {d});
    if (w.out_proj == nullptr) break;  // an error is pending; Finish says it
    block.mixer = std::make_unique<Mamba2Mixer>(
        Mamba2Mixer::Config{
            .d_model = d,
            .d_inner = di,
            .heads = heads,
            .head_dim = p,
            .state = n,
            .groups = groups,
            .conv = conv,
            .rms_norm = true,
            .norm_eps = eps,
            .dt_min = static_cast<float>(limit[0]),
            .dt_max = static_cast<float>(std::min(limit[1], 1e30))},
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
  info.mutable_shape()->set_heads(heads);
  info.mutable_shape()->set_head_dim(p);
  info.mutable_shape()->set_state_dim(n);
  info.set_flops_formula(absl::StrCat(
      "L*(2*d*(2di + 2GN + H) + 2*K*(di + 2GN) + H*(2 + P*(5N+3)) + 8*di + "
      "2*di*d) + 2*V*d  (L = ",
      layers, ", d = ", d, ", di = ", di, ", H = ", heads, ", P = ", p,
      ", N = ", n, ", G = ", groups, ", K = ", conv, ", V = ", vocab,
      "; flat in n)"));
  info.set_state_formula("L*((K-1)*(di + 2GN) + di*N)*4  (fixed)");
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), *std::move(weights), std::move(stack),
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kHfName, .family = "mamba2", .loader = LoadMamba2});

}  // namespace
}  // namespace trilemma
