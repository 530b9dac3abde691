// gated_deltanet: the Gated DeltaNet preset (Yang, Kautz & Hatamizadeh 2024)
// on the layer stack: one GatedDeltaNetMixer per block, no FFN, the codebook
// frame around it (engines/common/lm_frame.h). The mixer is the one the
// GatedDeltaNetForCausalLM loader uses (gated_deltanet_mixer.h has the
// equations); per-step compute and state are flat in context (efficient and
// compact), and recall is bounded by the dk×dv delta-rule memory per head.
//
//   h = E[tokens]                                          [R, d]
//   for each block l:  h += GatedDeltaNet_l(RmsNorm(h, norm))   [R, d]
//   logits = RmsNorm(h, norm_f) · Eᵀ                       [R, V]
//
// The circuit (init=circuit; README, "Engines"), built through every gate the
// published layer has:
// - the block norm makes each code unit length (xn[0] ≈ kBiasChannelValue);
// - q_proj, k_proj copy channels 1.. of xn, scaled by in_scale so the SiLU
//   after the short convs stays in its near-linear region (SiLU(u) ≈ u/2; q
//   and k are L2-normalised next, so their scale drops out); v_proj copies
//   them with v_scale;
// - the short convs shift: k reads the previous token (tap K−2), q and v the
//   current one (tap K−1), so each value position writes E[v_i] under the
//   key E[k_i];
// - the decay is switched off: a_proj = 0, A_log = 0 and dt_bias =
//   softplus⁻¹(forget) (forget 0: dt_bias = −30, exp(g) = 1 in float);
// - β = sigmoid(b) with b_proj reading the constant channel 0 so b ≈
//   logit(beta) (beta 1: b = 20, β = 1 − 2e-9): the exact delta rule;
// - the output gate g_proj reads channel 0 so SiLU(g) ≈ gate; the output
//   RMSNorm then makes each head's read unit-rms, and o_proj maps it back to
//   the model width with the gain that leaves out_gain·v̂ in the stream.
//
// Knobs: the common ones (lm_frame.h) plus heads (d_model/heads per head),
// conv_size and the circuit's beta, forget, in_scale, v_scale, gate,
// out_gain.
#include <cmath>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/gated_deltanet/gated_deltanet_mixer.h"
#include "engines/registry.h"
#include "engines/stack/mixer.h"

namespace trilemma {
namespace {

struct GdnPreset {
  int d = 128;
  int heads = 1;
  int dh = 128;  // head_k_dim = head_v_dim = d / heads
  int conv = 4;
  float beta = 1.0f;
  float forget = 0.0f;
  float in_scale = 0.1f;
  float v_scale = 1.0f;
  float gate = 20.0f;
  float out_gain = 8.0f;
};

// The tensors of one block, names as fla's GatedDeltaNet layer has them.
void AddBlockTensors(const GdnPreset& p, int l, TensorMap* w) {
  const int d = p.d, kd = p.heads * p.dh, h = p.heads;
  w->Add(LayerTensor(l, "norm"), {d});
  for (const char* name : {"q_proj", "k_proj", "v_proj", "g_proj"}) {
    w->Add(LayerTensor(l, name), {kd, d});
  }
  w->Add(LayerTensor(l, "a_proj"), {h, d});
  w->Add(LayerTensor(l, "b_proj"), {h, d});
  w->Add(LayerTensor(l, "A_log"), {h});
  w->Add(LayerTensor(l, "dt_bias"), {h});
  for (const char* name : {"q_conv", "k_conv", "v_conv"}) {
    w->Add(LayerTensor(l, name), {kd, p.conv});
  }
  w->Add(LayerTensor(l, "o_norm"), {p.dh});
  w->Add(LayerTensor(l, "o_proj"), {d, kd});
}

void FillRandomBlock(const GdnPreset& p, int l, std::mt19937_64& rng,
                     TensorMap* w) {
  const int d = p.d, kd = p.heads * p.dh;
  auto fill = [&](const char* name, float mean, float stddev) {
    float* t = w->Mutable(LayerTensor(l, name));
    FillNormal(t, w->Get(LayerTensor(l, name)).size(), mean, stddev, rng);
  };
  const float s_in = 1.0f / std::sqrt(static_cast<float>(d));
  fill("norm", 1.0f, 0.1f);
  for (const char* name :
       {"q_proj", "k_proj", "v_proj", "g_proj", "a_proj", "b_proj"}) {
    fill(name, 0.0f, s_in);
  }
  fill("A_log", 1.0f, 0.5f);
  fill("dt_bias", -2.0f, 0.5f);
  for (const char* name : {"q_conv", "k_conv", "v_conv"}) {
    fill(name, 0.0f, 0.5f);
  }
  fill("o_norm", 1.0f, 0.1f);
  fill("o_proj", 0.0f, 1.0f / std::sqrt(static_cast<float>(kd)));
}

void FillCircuitBlock(const GdnPreset& p, bool zero_output, int l,
                      TensorMap* w) {
  const int d = p.d, kd = p.heads * p.dh, k = p.conv;
  auto t = [&](const char* name) { return w->Mutable(LayerTensor(l, name)); };
  float* norm = t("norm");
  for (int i = 0; i < d; ++i) norm[i] = 1.0f / std::sqrt(static_cast<float>(d));
  // Row i − 1 of q/k/v reads channel i (the bias channel 0 is dropped).
  for (int i = 1; i < d; ++i) {
    t("q_proj")[int64_t{i - 1} * d + i] = p.in_scale;
    t("k_proj")[int64_t{i - 1} * d + i] = p.in_scale;
    t("v_proj")[int64_t{i - 1} * d + i] = p.v_scale;
  }
  for (int c = 0; c < kd; ++c) {
    t("q_conv")[int64_t{c} * k + k - 1] = 1.0f;
    t("k_conv")[int64_t{c} * k + k - 2] = 1.0f;
    t("v_conv")[int64_t{c} * k + k - 1] = 1.0f;
    t("g_proj")[int64_t{c} * d] = p.gate / kBiasChannelValue;
  }
  const float logit_beta =
      p.beta >= 1.0f ? 20.0f : std::log(p.beta / (1.0f - p.beta));
  const float dt_bias =
      p.forget > 0.0f ? std::log(std::expm1(p.forget)) : -30.0f;
  for (int j = 0; j < p.heads; ++j) {
    t("b_proj")[int64_t{j} * d] = logit_beta / kBiasChannelValue;
    t("dt_bias")[j] = dt_bias;  // A_log stays 0: g = −softplus(dt_bias)
  }
  for (int i = 0; i < p.dh; ++i) t("o_norm")[i] = 1.0f;
  if (zero_output) return;
  // Each head's read has rms 1 after the norm, times SiLU(gate) ≈ gate.
  const float gain = p.out_gain / (std::sqrt(static_cast<float>(kd)) * p.gate);
  for (int i = 1; i < d; ++i) t("o_proj")[int64_t{i} * kd + i - 1] = gain;
}

// Block l's mixer over the preset's tensors (gated_deltanet_mixer.h has
// its equations).
std::unique_ptr<Mixer> GdnMixer(const TensorMap& w, int l, const GdnPreset& p) {
  auto t = [&](const char* name) { return w.Data(LayerTensor(l, name)); };
  return std::make_unique<GatedDeltaNetMixer>(
      GatedDeltaNetMixer::Config{.d_model = p.d,
                                 .heads = p.heads,
                                 .v_heads = p.heads,
                                 .head_k_dim = p.dh,
                                 .head_v_dim = p.dh,
                                 .conv = p.conv,
                                 .gate = true,
                                 .neg_eigval = false,
                                 .norm_eps = kRmsNormEps},
      GatedDeltaNetMixer::Weights{.q_proj = t("q_proj"),
                                  .k_proj = t("k_proj"),
                                  .v_proj = t("v_proj"),
                                  .a_proj = t("a_proj"),
                                  .b_proj = t("b_proj"),
                                  .g_proj = t("g_proj"),
                                  .a_log = t("A_log"),
                                  .dt_bias = t("dt_bias"),
                                  .q_conv = t("q_conv"),
                                  .k_conv = t("k_conv"),
                                  .v_conv = t("v_conv"),
                                  .o_norm = t("o_norm"),
                                  .o_proj = t("o_proj")});
}

absl::StatusOr<std::unique_ptr<Engine>> CreateGatedDeltaNetEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  GdnPreset p;
  p.d = common.d_model;
  p.heads = static_cast<int>(knobs.Int("heads", 1, 1, 64));
  p.conv = static_cast<int>(knobs.Int("conv_size", 4, 2, 16));
  p.beta = static_cast<float>(knobs.Float("beta", 1.0, 1e-3, 1.0));
  p.forget = static_cast<float>(knobs.Float("forget", 0.0, 0.0, 10.0));
  p.in_scale = static_cast<float>(knobs.Float("in_scale", 0.1, 1e-4, 10));
  p.v_scale = static_cast<float>(knobs.Float("v_scale", 1.0, 1e-4, 10));
  p.gate = static_cast<float>(knobs.Float("gate", 20.0, 1.0, 1e3));
  p.out_gain = static_cast<float>(knobs.Float("out_gain", 8.0, 0.0, 1e4));
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (p.d % p.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.heads: ", p.heads, " does not divide d_model ", p.d));
  }
  p.dh = p.d / p.heads;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  for (int l = 0; l < common.depth; ++l) {
    AddBlockTensors(p, l, &weights);
    if (common.init == "circuit") {
      FillCircuitBlock(p, /*zero_output=*/l > 0, l, &weights);
    } else {
      FillRandomBlock(p, l, rng, &weights);
    }
  }

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "gated_deltanet", common, &info);
  info.set_description(absl::StrCat(
      "Gated DeltaNet (q/k/v short convs + SiLU, L2-normalised q/k, decay "
      "-exp(A_log)*softplus(a+dt_bias), beta = sigmoid(b), gated RMSNorm "
      "output), ",
      p.heads, " head(s) of ", p.dh, "x", p.dh, "; ", common.init, " weights",
      common.init == "circuit" ? absl::StrCat(" (beta ", p.beta, ", forget ",
                                              p.forget, ")", DepthNote(common))
                               : std::string()));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(p.heads);
  info.mutable_shape()->set_head_dim(p.dh);
  info.mutable_shape()->set_state_dim(p.dh);
  info.set_flops_formula(
      "L*(2*d*(4d + 2H) + 6*K*d + 4*H*(dk+1) + H*dk*(7dk + 12) + 2*d*d) + "
      "2*V*d  (dk = d/H; flat in n)");
  info.set_state_formula("L*(3*d*(K-1) + H*dk*dk)*4  (constant)");
  knobs.RecordIn(&info);
  return MakePresetStackEngine(
      std::move(info), std::move(weights), common.depth,
      [&](const TensorMap& w, int l) { return GdnMixer(w, l, p); },
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "gated_deltanet",
    .factory = CreateGatedDeltaNetEngine,
    .default_specs = {PresetSpec("gated_deltanet")},
    .conformance_knobs = {{{"init", "random"}, {"heads", "2"}, {"depth", "2"}},
                          {{"init", "random"}, {"conv_size", "2"}},
                          {{"depth", "2"},
                           {"beta", "0.5"},
                           {"forget", "0.01"}}},
    .display_order = 55});

}  // namespace
}  // namespace trilemma
