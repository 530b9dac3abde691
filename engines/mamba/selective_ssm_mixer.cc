#include "engines/mamba/selective_ssm_mixer.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/fast_math.h"
#include "engines/ops/matmul.h"
#include "engines/ops/parallel.h"
#include "engines/ops/ssm.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

// Channels per task of the conv and the scan: a few tasks per thread, each
// with its slice of h ([64, N] floats) in L1 across the rows.
constexpr int64_t kChannelBlock = 64;

// x = SiLU(x).
TRILEMMA_VECTOR_KERNEL
void SiluInPlace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = ops::FastSilu(x[i]);
}

// y *= SiLU(z).
TRILEMMA_VECTOR_KERNEL
void GateInPlace(const float* z, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= ops::FastSilu(z[i]);
}

}  // namespace

SelectiveSsmMixer::SelectiveSsmMixer(const Config& config,
                                     const Weights& weights)
    : config_(config),
      w_(weights),
      in_proj_(weights.in_proj, 2 * config.d_inner, config.d_model),
      x_proj_(weights.x_proj, config.dt_rank + 2 * config.state,
              config.d_inner),
      dt_proj_(weights.dt_proj, config.d_inner, config.dt_rank),
      out_proj_(weights.out_proj, config.d_model, config.d_inner) {
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
  const int di = config_.d_inner, n = config_.state;
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

  ops::Linear(x, r_count, in_proj_, xz.data(), w_.in_proj_bias);  // [R, 2·di]
  // Channels are independent in the conv and the scan, rows of one session
  // are not: the team splits the channels and each thread runs its channels
  // through every row in order.
  const int64_t blocks = (di + kChannelBlock - 1) / kChannelBlock;
  ops::ParallelFor(blocks, [&](int64_t block) {
    const int64_t c0 = block * kChannelBlock;
    const int64_t width = std::min<int64_t>(kChannelBlock, di - c0);
    for (int64_t r = 0; r < r_count; ++r) {
      float* ur = &u[r * di + c0];
      ops::CausalConvStep(&xz[r * 2 * di + c0], w_.conv + c0 * k,
                          w_.conv_bias + c0, width, k,
                          rows[r].fixed + c0 * (k - 1), ur);  // [width]
      SiluInPlace(ur, width);
    }
  });
  ops::Linear(u.data(), r_count, x_proj_, dbc.data());  // [R, R+2N]
  for (int64_t r = 0; r < r_count; ++r) {
    ops::Copy(&dbc[r * proj], &dt_in[r * rank], rank);
  }
  ops::Linear(dt_in.data(), r_count, dt_proj_, dt.data(),
              w_.dt_bias);  // [R, di]
  ops::ParallelFor(blocks, [&](int64_t block) {
    const int64_t c0 = block * kChannelBlock;
    const int64_t width = std::min<int64_t>(kChannelBlock, di - c0);
    for (int64_t r = 0; r < r_count; ++r) {
      const float* b = &dbc[r * proj + rank];
      float* dtr = &dt[r * di + c0];
      for (int64_t c = 0; c < width; ++c) dtr[c] = ops::Softplus(dtr[c]);
      float* h = rows[r].fixed + int64_t{di} * (k - 1) + c0 * n;
      float* yr = &y[r * di + c0];
      ops::SelectiveScanStep(&u[r * di + c0], dtr, a_.data() + c0 * n, b, b + n,
                             w_.d_skip + c0, width, n, h,
                             yr);  // [width]
      GateInPlace(&xz[r * 2 * di + di + c0], yr, width);
    }
  });
  ops::Linear(y.data(), r_count, out_proj_, out, w_.out_proj_bias);  // [R, d]
}

int64_t SelectiveSsmMixer::Flops(int64_t /*held*/) const {
  const int64_t d = config_.d_model, di = config_.d_inner;
  const int64_t n = config_.state, rank = config_.dt_rank;
  return 2 * d * 2 * di + ops::CausalConvFlops(di, config_.conv) +
         2 * di * (rank + 2 * n) + 2 * rank * di +
         ops::SelectiveScanFlops(di, n) + 2 * di * d;
}

}  // namespace trilemma
