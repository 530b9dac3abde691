// RWKV-7 checkpoints: RWKV7ForCausalLM in flash-linear-attention's Hugging
// Face layout (fla/models/rwkv7), served on the layer stack with the time-mix
// and channel-mix mixers (rwkv7_mixers.h has the equations, rwkv7_stack.h the
// model).
//
// config.json keys, as fla's RWKV7Config names them: hidden_size,
// num_hidden_layers, vocab_size, head_dim (default 64) or num_heads,
// decay_low_rank_dim / a_low_rank_dim / v_low_rank_dim / gate_low_rank_dim
// (defaults 64 / 64 / 16 / 128), intermediate_size (default hidden_ratio·d,
// hidden_ratio 4, rounded up to a multiple of 32), value_dim (null, an
// integer or a per-layer list; every layer must have the same, since
// value_first mixes layer 0's values into all), hidden_act "sqrelu",
// norm_first, norm_bias, norm_eps, fuse_norm (picks kk's L2-normalisation
// epsilon), tie_word_embeddings (default false). Hybrid attention layers
// ("attn" set) are refused.
//
// Knobs: none beyond the checkpoint.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/registry.h"
#include "engines/rwkv7/rwkv7_stack.h"
#include "engines/stack/layer_stack_engine.h"
#include "engines/weights/checkpoint_tensors.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

constexpr char kHfName[] = "RWKV7ForCausalLM";

// Reads the shape; INVALID_ARGUMENT naming config.json and the key.
absl::StatusOr<Rwkv7Shape> ReadShape(HfConfig& config, bool* tied) {
  Rwkv7Shape s;
  s.d_model = static_cast<int>(config.Int("hidden_size", 1, 65536));
  s.layers = static_cast<int>(config.Int("num_hidden_layers", 1, 1024));
  s.vocab = static_cast<int>(config.Int("vocab_size", 1, 1 << 22));
  const bool by_heads = !config.Has("head_dim") && config.Has("num_heads");
  if (by_heads) {
    s.heads = static_cast<int>(config.Int("num_heads", 1, 65536));
  } else {
    s.head_dim = static_cast<int>(config.IntOr("head_dim", 64, 1, 65536));
  }
  s.w_rank = static_cast<int>(config.IntOr("decay_low_rank_dim", 64, 1, 65536));
  s.a_rank = static_cast<int>(config.IntOr("a_low_rank_dim", 64, 1, 65536));
  s.v_rank = static_cast<int>(config.IntOr("v_low_rank_dim", 16, 1, 65536));
  s.g_rank = static_cast<int>(config.IntOr("gate_low_rank_dim", 128, 1, 65536));
  const double ratio = config.FloatOr("hidden_ratio", 4.0, 1e-3, 1024.0);
  const std::vector<int64_t> value_dims =
      config.IntOrIntList("value_dim", 1, 1 << 20);
  s.norm_first = config.BoolOr("norm_first", true);
  s.norm_bias = config.BoolOr("norm_bias", true);
  s.norm_eps = static_cast<float>(config.FloatOr("norm_eps", 1e-5, 0.0, 1.0));
  s.fused_l2 = config.BoolOr("fuse_norm", true);
  *tied = config.BoolOr("tie_word_embeddings", false);
  const std::string act = config.StringOr("hidden_act", "sqrelu");
  const bool hybrid = config.Has("attn");
  // fla's default: int(d·hidden_ratio) rounded up to a multiple of 32.
  const int64_t default_ff = static_cast<int64_t>(s.d_model * ratio);
  s.ff = static_cast<int>(config.IntOr(
      "intermediate_size", 32 * ((default_ff + 31) / 32), 1, 1 << 22));
  if (absl::Status st = config.Finish(); !st.ok()) return st;

  auto bad = [&](const std::string& message) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.path(), ": ", message));
  };
  if (act != "sqrelu") {
    return bad(absl::StrCat("hidden_act '", act,
                            "' is not supported; supported: sqrelu"));
  }
  if (hybrid) {
    return bad("'attn' (hybrid attention layers) is not supported");
  }
  if (by_heads) {
    if (s.d_model % s.heads != 0) {
      return bad(absl::StrCat("num_heads ", s.heads,
                              " does not divide hidden_size ", s.d_model));
    }
    s.head_dim = s.d_model / s.heads;
  } else {
    if (s.d_model % s.head_dim != 0) {
      return bad(absl::StrCat("head_dim ", s.head_dim,
                              " does not divide hidden_size ", s.d_model));
    }
    s.heads = s.d_model / s.head_dim;
  }
  s.value_dim = s.d_model;
  if (!value_dims.empty()) {
    if (value_dims.size() != 1 &&
        value_dims.size() != static_cast<size_t>(s.layers)) {
      return bad(absl::StrCat("value_dim lists ", value_dims.size(),
                              " layers; num_hidden_layers is ", s.layers));
    }
    for (int64_t v : value_dims) {
      if (v != value_dims[0]) {
        return bad(
            "value_dim must be the same for every layer (value_first "
            "mixes layer 0's values into all)");
      }
    }
    s.value_dim = static_cast<int>(value_dims[0]);
    if (s.value_dim % s.heads != 0) {
      return bad(absl::StrCat("value_dim ", s.value_dim,
                              " is not a multiple of the ", s.heads, " heads"));
    }
  }
  return s;
}

absl::StatusOr<std::unique_ptr<Engine>> LoadRwkv7(
    const EngineSpec& spec, std::shared_ptr<CheckpointDir> dir) {
  Knobs knobs(spec.knobs);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  bool tied = false;
  absl::StatusOr<Rwkv7Shape> shape = ReadShape(*config, &tied);
  if (!shape.ok()) return shape.status();
  const Rwkv7Shape& s = *shape;

  CheckpointTensors t(std::move(dir));
  const float* embed = t.Take("model.embeddings.weight", {s.vocab, s.d_model});
  t.TakeIf(!tied, "lm_head.weight", {s.vocab, s.d_model});
  for (const auto& [name, dims] : Rwkv7LayerTensors(s)) t.Take(name, dims);
  absl::StatusOr<std::shared_ptr<const TensorMap>> file =
      t.Finish([](const std::string&) { return false; });
  if (!file.ok()) return file.status();

  // The checkpoint's tensors as views, plus the pre-normed embedding table.
  auto weights = std::make_shared<TensorMap>();
  for (const auto& [name, tensor] : (*file)->all()) {
    weights->AddView(name, tensor.shape, tensor.ptr());
  }
  weights->Retain(*file);
  AddPrenormedEmbeddings(s, embed, weights.get());
  const float* readout =
      weights->Data(tied ? "model.embeddings.weight" : "lm_head.weight");
  LayerStack stack = MakeRwkv7Stack(s, *weights, readout);

  v1::EngineInfo info;
  FillCheckpointInfo(spec, kHfName, s.d_model, s.layers, s.vocab, &info);
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(s.heads);
  info.mutable_shape()->set_head_dim(s.head_dim);
  info.mutable_shape()->set_state_dim(s.head_dim);
  info.set_flops_formula(absl::StrCat(
      Rwkv7FlopsFormula(), "  (L = ", s.layers, ", d = ", s.d_model,
      ", dk = ", s.head_dim, ", dv = ", s.head_v_dim(), ", ff = ", s.ff,
      ", Rw/Ra/Rv/Rg = ", s.w_rank, "/", s.a_rank, "/", s.v_rank, "/", s.g_rank,
      ", V = ", s.vocab, ")"));
  info.set_state_formula(Rwkv7StateFormula());
  knobs.RecordIn(&info);
  return std::make_unique<LayerStackEngine>(
      std::move(info), std::shared_ptr<const TensorMap>(std::move(weights)),
      std::move(stack), spec.state_budget_bytes);
}

TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(CheckpointArchitecture{
    .hf_name = kHfName, .family = "rwkv7", .loader = LoadRwkv7});

}  // namespace
}  // namespace trilemma
