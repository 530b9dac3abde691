// The mamba recall circuit, built through a standard Mamba block's
// nonlinearities (README, "Engines": the recall circuit):
//
// - in_proj copies the normed token code into two channel groups of the inner
//   width, scaled by in_scale so SiLU(u) ≈ u/2 (its near-linear region);
// - the conv kernel's taps shift them apart: the key group reads x_{t-1}
//   (tap K-2), the value group reads x_t (tap K-1);
// - x_proj makes B_t = P·x_{t-1} from the key group and C_t = P·x_t from the
//   value group, with one seeded JL projection P [N, d] so C_t·B_s ≈
//   x_t·x_{s-1};
// - Δ is constant (dt_proj = 0, dt_bias = softplus⁻¹(delta)); A = -forget;
//   D = 0;
// - the gate z reads the codebook's constant channel so SiLU(z) ≈ gate;
// - out_proj maps the value group back to the model width with the gain that
//   undoes in_scale/2 · delta · gate and applies out_gain.
// Then y for value channel c is Σ_s (C_t·B_s) x_s[c]: a linear-attention read
// whose key dimension is the state size N — recall falls once the stored
// pairs outnumber what N dimensions can keep apart.
#include "engines/mamba/mamba_preset.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "engines/common/qkv_block.h"

namespace trilemma {

MambaShape ReadMambaShape(const CommonKnobs& common, Knobs& knobs,
                          MambaCircuit* circuit) {
  MambaShape s;
  s.d_model = common.d_model;
  s.layers = common.depth;
  s.d_inner = common.d_model * static_cast<int>(knobs.Int("expand", 2, 1, 8));
  s.state_dim = static_cast<int>(knobs.Int("state_dim", 16, 1, 1024));
  s.conv_kernel = static_cast<int>(knobs.Int("conv_kernel", 4, 2, 16));
  s.dt_rank = static_cast<int>(
      knobs.Int("dt_rank", (common.d_model + 15) / 16, 1, 4096));
  circuit->delta = static_cast<float>(knobs.Float("delta", 1.0, 1e-4, 100));
  circuit->forget = static_cast<float>(knobs.Float("forget", 1e-4, 0, 100));
  circuit->in_scale =
      static_cast<float>(knobs.Float("in_scale", 0.1, 1e-4, 10));
  circuit->out_gain = static_cast<float>(knobs.Float("out_gain", 8.0, 0, 1e4));
  return s;
}

namespace {

void BuildRandomBlock(const MambaShape& s, int l, std::mt19937_64& rng,
                      TensorMap* w) {
  const int d = s.d_model, di = s.d_inner, n = s.state_dim, r = s.dt_rank;
  FillNormal(w->Mutable(LayerTensor(l, "norm")), d, 1.0f, 0.1f, rng);
  FillNormal(w->Mutable(LayerTensor(l, "in_proj")), int64_t{2} * di * d, 0.0f,
             1.0f / std::sqrt(static_cast<float>(d)), rng);
  FillNormal(w->Mutable(LayerTensor(l, "conv_w")), int64_t{di} * s.conv_kernel,
             0.0f, 0.5f, rng);
  FillNormal(w->Mutable(LayerTensor(l, "conv_b")), di, 0.0f, 0.1f, rng);
  FillNormal(w->Mutable(LayerTensor(l, "x_proj")), int64_t{r + 2 * n} * di,
             0.0f, 1.0f / std::sqrt(static_cast<float>(di)), rng);
  FillNormal(w->Mutable(LayerTensor(l, "dt_proj")), int64_t{di} * r, 0.0f,
             1.0f / std::sqrt(static_cast<float>(r)), rng);
  FillNormal(w->Mutable(LayerTensor(l, "dt_bias")), di, -1.0f, 0.5f, rng);
  float* a_log = w->Mutable(LayerTensor(l, "A_log"));
  for (int c = 0; c < di; ++c) {
    for (int i = 0; i < n; ++i) {
      a_log[int64_t{c} * n + i] = std::log(static_cast<float>(i + 1));
    }
  }
  FillNormal(w->Mutable(LayerTensor(l, "D")), di, 1.0f, 0.1f, rng);
  FillNormal(w->Mutable(LayerTensor(l, "out_proj")), int64_t{d} * di, 0.0f,
             1.0f / std::sqrt(static_cast<float>(di)), rng);
}

void BuildCircuitBlock(const MambaShape& s, const MambaCircuit& k,
                       const std::vector<float>& p, bool zero_output, int l,
                       TensorMap* w) {
  const int d = s.d_model, di = s.d_inner, n = s.state_dim, r = s.dt_rank;
  const int kernel = s.conv_kernel;
  const int value0 = d;  // first channel of the value group
  float* norm = w->Mutable(LayerTensor(l, "norm"));
  for (int i = 0; i < d; ++i) norm[i] = 1.0f / std::sqrt(static_cast<float>(d));
  // in_proj rows [0, di) are x, rows [di, 2di) are z.
  float* in_proj = w->Mutable(LayerTensor(l, "in_proj"));
  for (int i = 1; i < d; ++i) {
    in_proj[int64_t{i} * d + i] = k.in_scale;           // key group
    in_proj[int64_t{value0 + i} * d + i] = k.in_scale;  // value group
  }
  // z reads the constant channel 0 (≈ kBiasChannelValue / |code| after the
  // unit norm) scaled to `gate`.
  const float bias_after_norm = kBiasChannelValue;
  for (int c = 0; c < di; ++c) {
    in_proj[int64_t{di + c} * d + 0] = k.gate / bias_after_norm;
  }
  float* conv_w = w->Mutable(LayerTensor(l, "conv_w"));
  for (int c = 0; c < d; ++c) conv_w[int64_t{c} * kernel + kernel - 2] = 1.0f;
  for (int c = value0; c < value0 + d; ++c) {
    conv_w[int64_t{c} * kernel + kernel - 1] = 1.0f;
  }
  // x_proj rows: [0, r) dt_raw (zero), [r, r+n) B, [r+n, r+2n) C.
  float* x_proj = w->Mutable(LayerTensor(l, "x_proj"));
  const float undo_silu = 2.0f / k.in_scale;  // SiLU(a·x) ≈ a·x/2
  for (int i = 0; i < n; ++i) {
    for (int c = 1; c < d; ++c) {
      const float pic = p[int64_t{i} * d + c] * undo_silu;
      x_proj[int64_t{r + i} * di + c] = pic;
      x_proj[int64_t{r + n + i} * di + value0 + c] = pic;
    }
  }
  float* dt_bias = w->Mutable(LayerTensor(l, "dt_bias"));
  const float softplus_inv = std::log(std::expm1(k.delta));
  for (int c = 0; c < di; ++c) dt_bias[c] = softplus_inv;
  float* a_log = w->Mutable(LayerTensor(l, "A_log"));
  const float log_forget = std::log(std::max(k.forget, 1e-30f));
  for (int64_t i = 0; i < int64_t{di} * n; ++i) a_log[i] = log_forget;
  if (zero_output) return;
  float* out_proj = w->Mutable(LayerTensor(l, "out_proj"));
  const float gain = k.out_gain / (0.5f * k.in_scale * k.delta * k.gate);
  for (int c = 1; c < d; ++c) out_proj[int64_t{c} * di + value0 + c] = gain;
}

}  // namespace

absl::Status BuildMambaWeights(const CommonKnobs& common, const MambaShape& s,
                               const MambaCircuit& circuit, TensorMap* w) {
  const bool circuit_init = common.init == "circuit";
  if (circuit_init && s.d_inner < 2 * s.d_model) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.expand: the circuit needs expand >= 2 (a key and a value "
        "channel group), got d_inner ",
        s.d_inner));
  }
  std::mt19937_64 rng(common.seed);
  // The JL projection shared by B and C, entries N(0, 1/N) on channels 1..
  std::vector<float> p(static_cast<size_t>(s.state_dim) * s.d_model, 0.0f);
  std::normal_distribution<float> normal(
      0.0f, 1.0f / std::sqrt(static_cast<float>(s.state_dim)));
  for (int i = 0; i < s.state_dim; ++i) {
    for (int c = 1; c < s.d_model; ++c) {
      p[int64_t{i} * s.d_model + c] = normal(rng);
    }
  }
  const int d = s.d_model, di = s.d_inner, n = s.state_dim, r = s.dt_rank;
  for (int l = 0; l < s.layers; ++l) {
    w->Add(LayerTensor(l, "norm"), {d});
    w->Add(LayerTensor(l, "in_proj"), {2 * di, d});
    w->Add(LayerTensor(l, "conv_w"), {di, s.conv_kernel});
    w->Add(LayerTensor(l, "conv_b"), {di});
    w->Add(LayerTensor(l, "x_proj"), {r + 2 * n, di});
    w->Add(LayerTensor(l, "dt_proj"), {di, r});
    w->Add(LayerTensor(l, "dt_bias"), {di});
    w->Add(LayerTensor(l, "A_log"), {di, n});
    w->Add(LayerTensor(l, "D"), {di});
    w->Add(LayerTensor(l, "out_proj"), {d, di});
    if (circuit_init) {
      BuildCircuitBlock(s, circuit, p, /*zero_output=*/l > 0, l, w);
    } else {
      BuildRandomBlock(s, l, rng, w);
    }
  }
  return absl::OkStatus();
}

}  // namespace trilemma
