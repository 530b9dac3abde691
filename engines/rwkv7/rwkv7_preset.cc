// The rwkv7 preset: an RWKV-7 layer stack (rwkv7_stack.h) around the shared
// codebook frame, with closed-form recall weights (init=circuit) or small
// random ones (init=random, for the reference and conformance checks).
//
// The recall circuit (README, "Engines") uses the generalised delta rule as a
// plain delta rule. With x the layer's LayerNormed input (unit-sized codes):
// - token shift: μ_k = 1 so k reads the previous token, μ_r = μ_v = 0;
//   r = P x_t, k = P x_{t−1}, v = P x_t, with P dropping the codebook's
//   constant channel 0, so the key of a pair is its first token's code;
// - the in-context learning rate a = σ(b_a) with b_a = logit(beta) and
//   k_k = k_a = 1, so kk = k/|k| and, for beta = 1, the update is
//   S ← S(I − k̂k̂ᵀ) + v kᵀ: each write replaces what the memory held for k̂;
// - the decay e^w with w = −e^{−1/2}·σ(b_w) cannot reach 1 or go below 0.545:
//   b_w sets the knob `decay` (default 1, b_w = −30: 1 to float precision);
// - the gate g = W_g2 σ(W_g1 x) has no bias: W_g1 = 0 makes σ(·) = ½, and
//   W_g2's first column of 2 makes g = 1;
// - the GroupNorm over the head removes the read's scale (|k|·|r| and how
//   many pairs are stored), so o_proj = out_gain·I sets the answer's weight
//   in the residual stream directly; the bonus r_k and the channel mix are 0.
// The read S r is then Σ_i v_i (k_i·r) over stored pairs: one head of
// dk = d − 1 usable key dimensions, like delta_net.
//
// Knobs: the common ones (lm_frame.h) plus head_dim (default d_model: one
// head), ff (channel-mix width, default 4·d), lora_rank (every LoRA, default
// 32), decay, beta, out_gain.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "engines/common/knobs.h"
#include "engines/common/lm_frame.h"
#include "engines/common/softmax_preset.h"
#include "engines/registry.h"
#include "engines/rwkv7/rwkv7_stack.h"
#include "engines/stack/layer_stack_engine.h"

namespace trilemma {
namespace {

struct Rwkv7Circuit {
  float decay = 1.0f;
  float beta = 1.0f;
  float out_gain = 8.0f;
};

// logit(p) clamped to ±30, where σ is 0 or 1 to float precision.
float Logit(double p) {
  if (p <= 0.0) return -30.0f;
  if (p >= 1.0) return 30.0f;
  const double l = std::log(p / (1.0 - p));
  return static_cast<float>(std::max(-30.0, std::min(30.0, l)));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void BuildRandom(const TensorShapes& list, std::mt19937_64& rng, TensorMap* w) {
  for (const auto& [name, shape] : list) {
    float* data = w->Mutable(name);
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const int64_t fan_in = shape.back();
    const float matrix_std = 1.0f / std::sqrt(static_cast<float>(fan_in));
    if (EndsWith(name, "norm.weight")) {
      FillNormal(data, n, 1.0f, 0.1f, rng);
    } else if (EndsWith(name, "norm.bias")) {
      FillNormal(data, n, 0.0f, 0.1f, rng);
    } else if (name.find(".x_") != std::string::npos) {  // token-shift mixes
      FillNormal(data, n, 0.5f, 0.2f, rng);
    } else if (EndsWith(name, "k_k") || EndsWith(name, "k_a")) {
      FillNormal(data, n, 1.0f, 0.2f, rng);
    } else if (EndsWith(name, "r_k") || EndsWith(name, "lora.2.bias")) {
      FillNormal(data, n, 0.0f, 0.5f, rng);
    } else {
      FillNormal(data, n, 0.0f, matrix_std, rng);
    }
  }
}

void BuildCircuit(const Rwkv7Shape& s, const Rwkv7Circuit& k, TensorMap* w) {
  const int d = s.d_model, vd = s.value_dim;
  const float unit = 1.0f / std::sqrt(static_cast<float>(d));
  for (const auto& [name, shape] : Rwkv7LayerTensors(s)) {
    if (EndsWith(name, "norm.weight")) {
      float* g = w->Mutable(name);
      // The final norm keeps the codebook's scale for the tied readout; the
      // others make unit-sized rows.
      const float value = name == "model.norm.weight" ? 1.0f : unit;
      for (int i = 0; i < d; ++i) g[i] = value;
    }
  }
  for (int l = 0; l < s.layers; ++l) {
    auto t = [&](const char* name) {
      return w->Mutable(absl::StrCat("model.layers.", l, ".", name));
    };
    for (int i = 0; i < d; ++i) {
      t("attn.x_k")[i] = 1.0f;
      t("attn.k_k")[i] = 1.0f;
      t("attn.k_a")[i] = 1.0f;
    }
    float* r_proj = t("attn.r_proj.weight");
    float* k_proj = t("attn.k_proj.weight");
    float* v_proj = t("attn.v_proj.weight");
    for (int i = 1; i < d; ++i) {
      r_proj[int64_t{i} * d + i] = 1.0f;
      k_proj[int64_t{i} * d + i] = 1.0f;
      v_proj[int64_t{i} * d + i] = 1.0f;
    }
    const float w_bias = Logit(-std::log(k.decay) / 0.6065306597126334);
    const float a_bias = Logit(k.beta);
    for (int i = 0; i < d; ++i) {
      t("attn.w_lora.lora.2.bias")[i] = w_bias;
      t("attn.a_lora.lora.2.bias")[i] = a_bias;
    }
    float* g2 = t("attn.g_lora.lora.2.weight");
    for (int c = 0; c < vd; ++c) g2[int64_t{c} * s.g_rank] = 2.0f;
    const float gn = 1.0f / std::sqrt(static_cast<float>(s.head_v_dim()));
    for (int c = 0; c < vd; ++c) t("attn.g_norm.weight")[c] = gn;
    if (l > 0) continue;  // later layers add nothing (zero o_proj)
    float* o_proj = t("attn.o_proj.weight");
    for (int i = 1; i < d; ++i) o_proj[int64_t{i} * vd + i] = k.out_gain;
  }
}

absl::StatusOr<std::unique_ptr<Engine>> CreateRwkv7Engine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  const int d = common.d_model;
  Rwkv7Shape s;
  s.d_model = d;
  s.vocab = common.vocab;
  s.layers = common.depth;
  s.head_dim = static_cast<int>(knobs.Int("head_dim", d, 1, d));
  s.ff = static_cast<int>(knobs.Int("ff", 4 * int64_t{d}, 1, 1 << 16));
  const int rank = static_cast<int>(knobs.Int("lora_rank", 32, 1, 4096));
  s.w_rank = s.a_rank = s.v_rank = s.g_rank = rank;
  Rwkv7Circuit circuit;
  circuit.decay = static_cast<float>(knobs.Float("decay", 1.0, 0.55, 1.0));
  circuit.beta = static_cast<float>(knobs.Float("beta", 1.0, 0.0, 1.0));
  circuit.out_gain = static_cast<float>(knobs.Float("out_gain", 8.0, 0, 1e4));
  if (absl::Status st = knobs.Finish(); !st.ok()) return st;
  if (d % s.head_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.head_dim: ", s.head_dim, " does not divide d_model ", d));
  }
  s.heads = d / s.head_dim;
  s.value_dim = d;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  const TensorShapes list = Rwkv7LayerTensors(s);
  for (const auto& [name, shape] : list) weights.Add(name, shape);
  if (common.init == "circuit") {
    BuildCircuit(s, circuit, &weights);
  } else {
    std::mt19937_64 rng(common.seed);
    BuildRandom(list, rng, &weights);
  }
  AddPrenormedEmbeddings(s, weights.Data("embed"), &weights);

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "rwkv7", common, &info);
  info.set_description(absl::StrCat(
      "RWKV-7 (generalised delta rule with vector decay, token shift, "
      "LoRA gates, GroupNorm, squared-ReLU channel mix), ",
      s.heads, " head(s) of ", s.head_dim, "x", s.head_v_dim(), " state; ",
      common.init, " weights",
      common.init == "circuit" ? DepthNote(common) : std::string()));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(s.heads);
  info.mutable_shape()->set_head_dim(s.head_dim);
  info.mutable_shape()->set_state_dim(s.head_dim);
  info.set_flops_formula(Rwkv7FlopsFormula());
  info.set_state_formula(Rwkv7StateFormula());
  knobs.RecordIn(&info);
  auto shared = std::make_shared<const TensorMap>(std::move(weights));
  LayerStack stack = MakeRwkv7Stack(s, *shared, shared->Data("embed"));
  return std::make_unique<LayerStackEngine>(std::move(info), std::move(shared),
                                            std::move(stack),
                                            spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "rwkv7",
    .factory = CreateRwkv7Engine,
    .default_specs = {PresetSpec("rwkv7")},
    .conformance_knobs = {{{"init", "random"},
                           {"head_dim", "16"},
                           {"depth", "2"},
                           {"ff", "96"},
                           {"lora_rank", "8"}},
                          {{"depth", "2"}, {"beta", "0.5"}, {"decay", "0.9"}}},
    .display_order = 57});

}  // namespace
}  // namespace trilemma
