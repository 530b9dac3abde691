#include "engines/mamba/selective_ssm_mixer.h"

#include <cmath>

#include "engines/ops/matmul.h"
#include "engines/ops/ssm.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {

SelectiveSsmMixer::SelectiveSsmMixer(const Config& config,
                                     const Weights& weights)
    : config_(config), w_(weights) {
  const int64_t n = int64_t{config.d_inner} * config.state;
  a_.resize(n);
  for (int64_t i = 0; i < n; ++i) a_[i] = -std::exp(weights.a_log[i]);
  if (w_.conv_bias == nullptr) {  // use_conv_bias = false
    zero_conv_bias_.assign(config.d_inner, 0.0f);
    w_.conv_bias = zero_conv_bias_.data();
  }
}

void SelectiveSsmMixer::Forward(const float* x, absl::Span<const MixerRow> rows,
                                float* out) const {
  const int64_t r_count = static_cast<int64_t>(rows.size());
  const int d = config_.d_model, di = config_.d_inner, n = config_.state;
  const int rank = config_.dt_rank, k = config_.conv;
  const int proj = rank + 2 * n;
  struct Scratch {
    std::vector<float> xz, u, dbc, dt_in, dt, y;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& xz = buffers.xz;
  std::vector<float>& u = buffers.u;
  std::vector<float>& dbc = buffers.dbc;
  std::vector<float>& dt_in = buffers.dt_in;
  std::vector<float>& dt = buffers.dt;
  std::vector<float>& y = buffers.y;
  xz.resize(r_count * 2 * di);
  u.resize(r_count * di);
  dbc.resize(r_count * proj);
  dt_in.resize(r_count * rank);
  dt.resize(r_count * di);
  y.resize(r_count * di);

  ops::Linear(x, r_count, d, w_.in_proj, 2 * di, xz.data(), w_.in_proj_bias,
              ops::Activation::kNone);  // [R, 2·di]
  // Conv in row order (each row shifts its session's window), then SiLU.
  for (int64_t r = 0; r < r_count; ++r) {
    float* ur = &u[r * di];
    ops::CausalConvStep(&xz[r * 2 * di], w_.conv, w_.conv_bias, di, k,
                        rows[r].fixed, ur);  // [di]
    for (int c = 0; c < di; ++c) ur[c] = ops::Silu(ur[c]);
  }
  ops::Linear(u.data(), r_count, di, w_.x_proj, proj, dbc.data());  // [R, R+2N]
  for (int64_t r = 0; r < r_count; ++r) {
    ops::Copy(&dbc[r * proj], &dt_in[r * rank], rank);
  }
  ops::Linear(dt_in.data(), r_count, rank, w_.dt_proj, di, dt.data(),
              w_.dt_bias, ops::Activation::kNone);  // [R, di]
  for (float& v : dt) v = ops::Softplus(v);
  // The scan in row order over each session's h.
  for (int64_t r = 0; r < r_count; ++r) {
    const float* b = &dbc[r * proj + rank];
    float* h = rows[r].fixed + int64_t{di} * (k - 1);
    float* yr = &y[r * di];
    ops::SelectiveScanStep(&u[r * di], &dt[r * di], a_.data(), b, b + n,
                           w_.d_skip, di, n, h, yr);  // [di]
    const float* z = &xz[r * 2 * di + di];
    for (int c = 0; c < di; ++c) yr[c] *= ops::Silu(z[c]);
  }
  ops::Linear(y.data(), r_count, di, w_.out_proj, d, out, w_.out_proj_bias,
              ops::Activation::kNone);  // [R, d]
}

int64_t SelectiveSsmMixer::Flops(int64_t /*held*/) const {
  const int64_t d = config_.d_model, di = config_.d_inner;
  const int64_t n = config_.state, rank = config_.dt_rank;
  return 2 * d * 2 * di + ops::CausalConvFlops(di, config_.conv) +
         2 * di * (rank + 2 * n) + 2 * rank * di +
         ops::SelectiveScanFlops(di, n) + 2 * di * d;
}

}  // namespace trilemma
