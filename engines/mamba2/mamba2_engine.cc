// mamba2: the Mamba-2 (SSD) preset on the layer stack: one Mamba2Mixer per
// block (the mixer the Mamba2ForCausalLM loader uses; mamba2_mixer.h has the
// equations), no FFN, the codebook frame around it (engines/common/
// lm_frame.h). Per-step compute and state are flat in context (efficient and
// compact); recall is bounded by the state size N that B and C span.
//
//   h = E[tokens]                                          [R, d]
//   for each block l:  h += Mamba2_l(RmsNorm(h, norm))      [R, d]
//   logits = RmsNorm(h, norm_f) · Eᵀ                       [R, V]
//
// The circuit (init=circuit; README, "Engines"), through every part of the
// published block:
// - the block norm makes each code unit length (xn[0] ≈ kBiasChannelValue);
// - in_proj writes three channel groups of xBC: x copies channels 1.. of xn
//   (v_scale), B and C are in_scale·P·xn with one projection P [N, d]
//   (the identity on channels 1.. when N >= d − 1, else a seeded JL
//   projection) — in_scale keeps the SiLU after the conv near-linear
//   (SiLU(u) ≈ u/2);
// - the conv taps shift: B reads the previous token (tap K−2), x and C the
//   current one (tap K−1), so C_t·B_s ≈ x_t·x_{s−1} and each value position
//   writes E[v_i] under the key E[k_i];
// - Δ is constant (dt rows of in_proj = 0, dt_bias = softplus⁻¹(delta)),
//   A = −forget per head (A_log = log forget), D = 0;
// - z reads the constant channel so SiLU(z) ≈ gate: a per-token constant
//   that the gated RMSNorm (gate before the norm) divides out again — it only
//   lifts y·SiLU(z) far above the norm's eps;
// - out_proj maps the unit-rms normed x channels back to the model width with
//   the gain that leaves out_gain·v̂ in the stream.
// Then y_t = Σ_s Δ·(C_t·B_s)·x_s: a linear-attention read whose key dimension
// is the state size N (the heads share B and C: n_groups = 1), so recall
// falls once the stored pairs outnumber what N dimensions keep apart. With
// expand 2, only the first d of the di inner channels carry values.
//
// Knobs: the common ones (lm_frame.h) plus expand, head_dim, state_dim,
// conv_kernel and the circuit's delta, forget, in_scale, v_scale, gate,
// out_gain.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/circuit_stack.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/mamba2/mamba2_mixer.h"
#include "engines/registry.h"
#include "engines/stack/mixer.h"

namespace trilemma {
namespace {

struct Mamba2Preset {
  int d = 128;
  int di = 256;
  int head_dim = 64;
  int heads = 4;
  int n = 128;
  int conv = 4;
  float delta = 1.0f;
  float forget = 1e-4f;
  float in_scale = 0.25f;
  float v_scale = 1.0f;
  float gate = 20.0f;
  float out_gain = 8.0f;
  int conv_dim() const { return di + 2 * n; }
  int proj() const { return di + conv_dim() + heads; }
};

void AddBlockTensors(const Mamba2Preset& p, int l, TensorMap* w) {
  w->Add(LayerTensor(l, "norm"), {p.d});
  w->Add(LayerTensor(l, "in_proj"), {p.proj(), p.d});
  w->Add(LayerTensor(l, "conv_w"), {p.conv_dim(), p.conv});
  w->Add(LayerTensor(l, "conv_b"), {p.conv_dim()});
  w->Add(LayerTensor(l, "dt_bias"), {p.heads});
  w->Add(LayerTensor(l, "A_log"), {p.heads});
  w->Add(LayerTensor(l, "D"), {p.heads});
  w->Add(LayerTensor(l, "gated_norm"), {p.di});
  w->Add(LayerTensor(l, "out_proj"), {p.d, p.di});
}

void FillRandomBlock(const Mamba2Preset& p, int l, std::mt19937_64& rng,
                     TensorMap* w) {
  auto fill = [&](const char* name, float mean, float stddev) {
    const std::string t = LayerTensor(l, name);
    FillNormal(w->Mutable(t), w->Get(t).size(), mean, stddev, rng);
  };
  fill("norm", 1.0f, 0.1f);
  fill("in_proj", 0.0f, 1.0f / std::sqrt(static_cast<float>(p.d)));
  fill("conv_w", 0.0f, 0.5f);
  fill("conv_b", 0.0f, 0.1f);
  fill("dt_bias", -1.0f, 0.5f);
  fill("A_log", 0.5f, 0.5f);
  fill("D", 1.0f, 0.1f);
  fill("gated_norm", 1.0f, 0.1f);
  fill("out_proj", 0.0f, 1.0f / std::sqrt(static_cast<float>(p.di)));
}

void FillCircuitBlock(const Mamba2Preset& p, const std::vector<float>& jl,
                      bool zero_output, int l, TensorMap* w) {
  const int d = p.d, di = p.di, n = p.n, k = p.conv;
  auto t = [&](const char* name) { return w->Mutable(LayerTensor(l, name)); };
  float* norm = t("norm");
  for (int i = 0; i < d; ++i) norm[i] = 1.0f / std::sqrt(static_cast<float>(d));
  // in_proj rows: z [0, di), x [di, 2di), B [2di, 2di+N), C [2di+N, 2di+2N),
  // dt [2di+2N, +H) (zero).
  float* in_proj = t("in_proj");
  auto row = [&](int r) { return in_proj + int64_t{r} * d; };
  for (int c = 0; c < di; ++c) row(c)[0] = p.gate / kBiasChannelValue;
  for (int i = 1; i < d; ++i) row(di + i)[i] = p.v_scale;
  for (int j = 0; j < n; ++j) {
    for (int i = 1; i < d; ++i) {
      row(2 * di + j)[i] = p.in_scale * jl[int64_t{j} * d + i];
      row(2 * di + n + j)[i] = p.in_scale * jl[int64_t{j} * d + i];
    }
  }
  float* conv_w = t("conv_w");  // xBC channels: x [0, di), B, C
  for (int c = 0; c < p.conv_dim(); ++c) {
    const bool is_b = c >= di && c < di + n;
    conv_w[int64_t{c} * k + (is_b ? k - 2 : k - 1)] = 1.0f;
  }
  const float softplus_inv = std::log(std::expm1(p.delta));
  const float log_forget = std::log(std::max(p.forget, 1e-30f));
  for (int h = 0; h < p.heads; ++h) {
    t("dt_bias")[h] = softplus_inv;
    t("A_log")[h] = log_forget;
  }
  for (int i = 0; i < di; ++i) t("gated_norm")[i] = 1.0f;
  if (zero_output) return;
  const float gain = p.out_gain / std::sqrt(static_cast<float>(di));
  for (int i = 1; i < d; ++i) t("out_proj")[int64_t{i} * di + i] = gain;
}

// Block l's mixer over the preset's tensors (mamba2_mixer.h has its
// equations).
std::unique_ptr<Mixer> Mamba2BlockMixer(const TensorMap& w, int l,
                                        const Mamba2Preset& p) {
  auto t = [&](const char* name) { return w.Data(LayerTensor(l, name)); };
  return std::make_unique<Mamba2Mixer>(
      Mamba2Mixer::Config{.d_model = p.d,
                          .d_inner = p.di,
                          .heads = p.heads,
                          .head_dim = p.head_dim,
                          .state = p.n,
                          .groups = 1,
                          .conv = p.conv,
                          .rms_norm = true,
                          .norm_eps = kRmsNormEps},
      Mamba2Mixer::Weights{.in_proj = t("in_proj"),
                           .conv = t("conv_w"),
                           .conv_bias = t("conv_b"),
                           .dt_bias = t("dt_bias"),
                           .a_log = t("A_log"),
                           .d_skip = t("D"),
                           .norm = t("gated_norm"),
                           .out_proj = t("out_proj")});
}

absl::StatusOr<std::unique_ptr<Engine>> CreateMamba2Engine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  Mamba2Preset p;
  p.d = common.d_model;
  p.di = p.d * static_cast<int>(knobs.Int("expand", 2, 1, 8));
  p.head_dim = static_cast<int>(knobs.Int("head_dim", 64, 1, 4096));
  p.n = static_cast<int>(knobs.Int("state_dim", 128, 1, 1024));
  p.conv = static_cast<int>(knobs.Int("conv_kernel", 4, 2, 16));
  p.delta = static_cast<float>(knobs.Float("delta", 1.0, 1e-4, 100));
  p.forget = static_cast<float>(knobs.Float("forget", 1e-4, 0, 100));
  p.in_scale = static_cast<float>(knobs.Float("in_scale", 0.25, 1e-4, 10));
  p.v_scale = static_cast<float>(knobs.Float("v_scale", 1.0, 1e-4, 10));
  p.gate = static_cast<float>(knobs.Float("gate", 20.0, 1.0, 1e3));
  p.out_gain = static_cast<float>(knobs.Float("out_gain", 8.0, 0.0, 1e4));
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  if (p.di % p.head_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.head_dim: ", p.head_dim,
        " does not divide the inner width expand*d_model = ", p.di));
  }
  p.heads = p.di / p.head_dim;

  TensorMap weights;
  AddFrameWeights(common, &weights);
  std::mt19937_64 rng(common.seed);
  // The projection shared by B and C: the identity on channels 1.. when the
  // state has room for them (N >= d − 1), else a JL projection with entries
  // N(0, 1/N), like QkvBlock's key projection.
  std::vector<float> jl(static_cast<size_t>(p.n) * p.d, 0.0f);
  if (p.n >= p.d - 1) {
    for (int i = 1; i < p.d; ++i) jl[int64_t{i - 1} * p.d + i] = 1.0f;
  } else {
    std::normal_distribution<float> normal(
        0.0f, 1.0f / std::sqrt(static_cast<float>(p.n)));
    for (int j = 0; j < p.n; ++j) {
      for (int i = 1; i < p.d; ++i) jl[int64_t{j} * p.d + i] = normal(rng);
    }
  }
  for (int l = 0; l < common.depth; ++l) {
    AddBlockTensors(p, l, &weights);
    if (common.init == "circuit") {
      FillCircuitBlock(p, jl, /*zero_output=*/l > 0, l, &weights);
    } else {
      FillRandomBlock(p, l, rng, &weights);
    }
  }

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "mamba2", common, &info);
  info.set_description(absl::StrCat(
      "Mamba-2 / SSD (in_proj to z, xBC, dt; conv over xBC; per-head scalar "
      "decay exp(dt*A); D skip; gated RMSNorm), ",
      p.heads, " heads of ", p.head_dim, ", state N=", p.n, "; ", common.init,
      " weights", DepthNote(common)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(p.heads);
  info.mutable_shape()->set_head_dim(p.head_dim);
  info.mutable_shape()->set_state_dim(p.n);
  info.set_flops_formula(
      "L*(2*d*(2di + 2N + H) + 2*K*(di + 2N) + H*(2 + P*(5N+3)) + 8*di + "
      "2*di*d) + 2*V*d  (di = expand*d, H = di/P; flat in n)");
  info.set_state_formula("L*((K-1)*(di + 2N) + di*N)*4  (constant)");
  knobs.RecordIn(&info);
  return MakePresetStackEngine(
      std::move(info), std::move(weights), common.depth,
      [&](const TensorMap& w, int l) { return Mamba2BlockMixer(w, l, p); },
      spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "mamba2",
    .factory = CreateMamba2Engine,
    .default_specs = {PresetSpec("mamba2")},
    .conformance_knobs = {{{"init", "random"},
                           {"state_dim", "8"},
                           {"head_dim", "32"},
                           {"depth", "2"}},
                          {{"init", "random"},
                           {"expand", "1"},
                           {"head_dim", "16"},
                           {"conv_kernel", "3"}},
                          {{"depth", "2"}, {"state_dim", "32"}}},
    .display_order = 45});

}  // namespace
}  // namespace trilemma
