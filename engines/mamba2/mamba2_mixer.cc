#include "engines/mamba2/mamba2_mixer.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/gated_recurrence.h"
#include "engines/ops/matmul.h"
#include "engines/ops/ssm.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {

Mamba2Mixer::Mamba2Mixer(const Config& config, const Weights& weights)
    : config_(config), w_(weights) {
  conv_dim_ = config.d_inner + int64_t{2} * config.groups * config.state;
  proj_width_ = config.d_inner + conv_dim_ + config.heads;
  in_proj_ = ops::LinearWeight(w_.in_proj, proj_width_, config.d_model);
  out_proj_ = ops::LinearWeight(w_.out_proj, config.d_model, config.d_inner);
  neg_a_.resize(config.heads);
  for (int h = 0; h < config.heads; ++h) neg_a_[h] = -std::exp(w_.a_log[h]);
  if (w_.conv_bias == nullptr) {  // use_conv_bias = false
    zero_conv_bias_.assign(conv_dim_, 0.0f);
    w_.conv_bias = zero_conv_bias_.data();
  }
}

MixerStateDecl Mamba2Mixer::state() const {
  return {.fixed_floats = conv_dim_ * (config_.conv - 1) +
                          int64_t{config_.d_inner} * config_.state,
          .kv_dim = 0};
}

void Mamba2Mixer::Forward(const float* x, absl::Span<const MixerRow> rows,
                          float* out) const {
  const int64_t r_count = static_cast<int64_t>(rows.size());
  const int64_t d = config_.d_model, di = config_.d_inner;
  const int64_t p = config_.head_dim, n = config_.state;
  const int64_t heads_per_group = config_.heads / config_.groups;
  struct Scratch {
    std::vector<float> proj, xbc, y;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& proj = buffers.proj;
  std::vector<float>& xbc = buffers.xbc;
  std::vector<float>& y = buffers.y;
  proj.resize(r_count * proj_width_);
  xbc.resize(conv_dim_);
  y.resize(r_count * di);

  ops::Linear(x, r_count, in_proj_, proj.data());  // [R, di + conv_dim + H]
  if (w_.in_proj_bias != nullptr) {
    ops::AddBias(w_.in_proj_bias, r_count, proj_width_, proj.data());
  }
  for (int64_t r = 0; r < r_count; ++r) {
    const float* z = &proj[r * proj_width_];  // [di]
    const float* dt = z + di + conv_dim_;     // [H]
    float* fixed = rows[r].fixed;
    ops::CausalConvStep(z + di, w_.conv, w_.conv_bias, conv_dim_, config_.conv,
                        fixed, xbc.data());  // [conv_dim]
    for (float& v : xbc) v = ops::Silu(v);
    const float* xs = xbc.data();  // [di]
    const float* b = xs + di;      // [G, N]
    const float* c = b + config_.groups * n;
    float* s = fixed + conv_dim_ * (config_.conv - 1);  // [H, P, N]
    float* yr = &y[r * di];
    for (int h = 0; h < config_.heads; ++h) {
      const int64_t g = h / heads_per_group;
      const float step = std::clamp(ops::Softplus(dt[h] + w_.dt_bias[h]),
                                    config_.dt_min, config_.dt_max);
      ops::ScalarDecaySsmStep(xs + h * p, step, neg_a_[h], b + g * n, c + g * n,
                              w_.d_skip[h], p, n, s + h * p * n, yr + h * p);
    }
    if (config_.rms_norm) {
      ops::GatedRmsNorm(yr, z, w_.norm, config_.norm_eps, di, config_.groups,
                        /*norm_before_gate=*/false, yr);
    } else {
      for (int64_t i = 0; i < di; ++i) yr[i] *= ops::Silu(z[i]);
    }
  }
  ops::Linear(y.data(), r_count, out_proj_, out);  // [R, d]
  if (w_.out_proj_bias != nullptr) {
    ops::AddBias(w_.out_proj_bias, r_count, d, out);
  }
}

int64_t Mamba2Mixer::Flops(int64_t /*held*/) const {
  const int64_t d = config_.d_model, di = config_.d_inner;
  return ops::LinearFlops(1, d, proj_width_) +
         ops::CausalConvFlops(conv_dim_, config_.conv) +
         config_.heads *
             ops::ScalarDecaySsmStepFlops(config_.head_dim, config_.state) +
         ops::GatedRmsNormFlops(di) + ops::LinearFlops(1, di, d);
}

}  // namespace trilemma
