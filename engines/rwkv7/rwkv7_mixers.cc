#include "engines/rwkv7/rwkv7_mixers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/ops/matmul.h"
#include "engines/ops/rwkv_ops.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/transformer_ops.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma {
namespace {

// e^{−1/2}: fla's bound on −w, so the per-step decay e^w stays in
// (e^{−e^{−1/2}}, 1) ≈ (0.545, 1).
constexpr float kDecayScale = 0.6065306597126334f;

// Layer 0's v rows of the current Forward, read by the later layers (the
// header's "value_first").
std::vector<float>& ValueFirstRows() {
  struct Rows {
    std::vector<float> rows;
  };
  return ops::ThreadScratch<Rows>().rows;
}

// prev[r] = the row before row r of its session (the state's saved row), and
// the state then saves x[r]. Rows of one session come in order, so row r+1
// sees row r. x, prev: [R, d].
void ShiftRows(const float* x, absl::Span<const MixerRow> rows, int64_t d,
               float* prev) {
  for (size_t r = 0; r < rows.size(); ++r) {
    ops::Copy(rows[r].fixed, prev + r * d, d);
    ops::Copy(x + r * d, rows[r].fixed, d);
  }
}

// The activation between a LoRA's two matrices.
enum class LoraAct { kIdentity, kTanh, kSigmoid };

// y[R, out] = up · act(down · x): a LoRA without its bias. x: [R, d];
// `hidden` is [R, rank] scratch.
void LoraLinear(const float* x, int64_t rows, int64_t d, const float* down,
                int64_t rank, const float* up, int64_t out, LoraAct act,
                float* hidden, float* y) {
  ops::Linear(x, rows, d, down, rank, hidden);  // [R, rank]
  if (act == LoraAct::kTanh) {
    for (int64_t i = 0; i < rows * rank; ++i) hidden[i] = std::tanh(hidden[i]);
  } else if (act == LoraAct::kSigmoid) {
    for (int64_t i = 0; i < rows * rank; ++i) {
      hidden[i] = ops::Sigmoid(hidden[i]);
    }
  }
  ops::Linear(hidden, rows, rank, up, out, y);  // [R, out]
}

}  // namespace

Rwkv7TimeMix::Rwkv7TimeMix(const Rwkv7Shape& shape, int layer,
                           const Weights& weights)
    : shape_(shape),
      layer_(layer),
      w_(weights),
      r_proj_(weights.r_proj, int64_t{shape.heads} * shape.head_dim,
              shape.d_model),
      k_proj_(weights.k_proj, int64_t{shape.heads} * shape.head_dim,
              shape.d_model),
      v_proj_(weights.v_proj, shape.value_dim, shape.d_model),
      o_proj_(weights.o_proj, shape.d_model, shape.value_dim) {}

MixerStateDecl Rwkv7TimeMix::state() const {
  const int64_t dk = shape_.head_dim;
  return {.fixed_floats = shape_.d_model + dk * shape_.value_dim, .kv_dim = 0};
}

void Rwkv7TimeMix::Forward(const float* x, absl::Span<const MixerRow> rows,
                           float* out) const {
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t d = shape_.d_model, h = shape_.heads, dk = shape_.head_dim;
  const int64_t dv = shape_.head_v_dim(), kd = h * dk, vd = h * dv;
  struct Scratch {
    std::vector<float> prev, mixed, hidden, r, w, k, v, vmix, a, g, kk, o,
        scratch;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& prev = buffers.prev;
  std::vector<float>& mixed = buffers.mixed;
  std::vector<float>& hidden = buffers.hidden;
  std::vector<float>& r = buffers.r;
  std::vector<float>& w = buffers.w;
  std::vector<float>& k = buffers.k;
  std::vector<float>& v = buffers.v;
  std::vector<float>& vmix = buffers.vmix;
  std::vector<float>& a = buffers.a;
  std::vector<float>& g = buffers.g;
  std::vector<float>& kk = buffers.kk;
  std::vector<float>& o = buffers.o;
  std::vector<float>& scratch = buffers.scratch;
  prev.resize(n * d);
  mixed.resize(6 * n * d);
  r.resize(n * kd);
  w.resize(n * kd);
  k.resize(n * kd);
  kk.resize(n * kd);
  a.resize(n * kd);
  v.resize(n * vd);
  vmix.resize(n * vd);
  g.resize(n * vd);
  o.resize(n * vd);
  scratch.resize(dv);
  int64_t max_rank = std::max({shape_.w_rank, shape_.a_rank, shape_.g_rank,
                               layer_ > 0 ? shape_.v_rank : 0});
  hidden.resize(n * max_rank);

  ShiftRows(x, rows, d, prev.data());
  // x_c = x + (prev − x) ⊙ μ_c, six [R, d] blocks in the order r w k v a g.
  for (int c = 0; c < 6; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      ops::ShiftMix(x + i * d, &prev[i * d], w_.mu[c], d,
                    &mixed[(c * n + i) * d]);
    }
  }
  const float* xr = &mixed[0 * n * d];
  const float* xw = &mixed[1 * n * d];
  const float* xk = &mixed[2 * n * d];
  const float* xv = &mixed[3 * n * d];
  const float* xa = &mixed[4 * n * d];
  const float* xg = &mixed[5 * n * d];

  ops::Linear(xr, n, r_proj_, r.data());  // [R, H·dk]
  ops::Linear(xk, n, k_proj_, k.data());  // [R, H·dk]
  ops::Linear(xv, n, v_proj_, v.data());  // [R, H·dv]
  // Decay e^w with w = −e^{−1/2}·σ(lora), [R, H·dk].
  LoraLinear(xw, n, d, w_.w1, shape_.w_rank, w_.w2, kd, LoraAct::kTanh,
             hidden.data(), w.data());
  ops::AddBias(w_.w_bias, n, kd, w.data());
  for (float& x_w : w) x_w = std::exp(-kDecayScale * ops::Sigmoid(x_w));
  std::vector<float>& value_first = ValueFirstRows();
  if (layer_ == 0) {
    value_first.assign(v.begin(), v.end());
  } else {
    LoraLinear(xv, n, d, w_.v1, shape_.v_rank, w_.v2, vd, LoraAct::kIdentity,
               hidden.data(), vmix.data());  // [R, H·dv]
    ops::AddBias(w_.v_bias, n, vd, vmix.data());
    for (int64_t i = 0; i < n * vd; ++i) {
      v[i] += (value_first[i] - v[i]) * ops::Sigmoid(vmix[i]);
    }
  }
  LoraLinear(xa, n, d, w_.a1, shape_.a_rank, w_.a2, kd, LoraAct::kIdentity,
             hidden.data(), a.data());  // [R, H·dk]
  ops::AddBias(w_.a_bias, n, kd, a.data());
  for (float& x_a : a) x_a = ops::Sigmoid(x_a);
  LoraLinear(xg, n, d, w_.g1, shape_.g_rank, w_.g2, vd, LoraAct::kSigmoid,
             hidden.data(),
             g.data());  // [R, H·dv]

  // kk = normalise(k ⊙ k_k) per head; k ← k ⊙ (1 + (a − 1) ⊙ k_a).
  for (int64_t i = 0; i < n * kd; ++i) kk[i] = k[i] * w_.k_k[i % kd];
  for (int64_t hd = 0; hd < n * h; ++hd) {
    float* kh = &kk[hd * dk];
    const float sq = ops::Dot(kh, kh, dk);
    const float scale = shape_.fused_l2
                            ? 1.0f / std::sqrt(sq + 1e-6f)
                            : 1.0f / std::max(std::sqrt(sq), 1e-12f);
    for (int64_t j = 0; j < dk; ++j) kh[j] *= scale;
  }
  for (int64_t i = 0; i < n * kd; ++i) {
    k[i] *= 1.0f + (a[i] - 1.0f) * w_.k_a[i % kd];
  }

  // The recurrence in row order over each session's S.
  for (int64_t i = 0; i < n; ++i) {
    float* s = rows[i].fixed + d;
    for (int64_t hh = 0; hh < h; ++hh) {
      const int64_t ko = i * kd + hh * dk, vo = i * vd + hh * dv;
      ops::GeneralizedDeltaStep(&r[ko], &w[ko], &k[ko], &v[vo], &kk[ko], &a[ko],
                                dk, dv, s + hh * dk * dv, &o[vo],
                                scratch.data());  // [dv]
    }
  }
  ops::GroupNorm(o.data(), w_.gn_weight, w_.gn_bias, h, dv,
                 static_cast<float>(dk) * shape_.norm_eps, n, o.data());
  ops::CountFlops(n * (3 * kd + 4 * vd));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t hh = 0; hh < h; ++hh) {
      const int64_t ko = i * kd + hh * dk, vo = i * vd + hh * dv;
      float bonus = 0.0f;
      for (int64_t j = 0; j < dk; ++j) {
        bonus += r[ko + j] * k[ko + j] * w_.r_k[hh * dk + j];
      }
      for (int64_t j = 0; j < dv; ++j) {
        o[vo + j] = (o[vo + j] + bonus * v[vo + j]) * g[vo + j];
      }
    }
  }
  ops::Linear(o.data(), n, o_proj_, out);  // [R, d]
}

int64_t Rwkv7TimeMix::Flops(int64_t /*held*/) const {
  const int64_t d = shape_.d_model, h = shape_.heads, dk = shape_.head_dim;
  const int64_t kd = h * dk, vd = shape_.value_dim;
  int64_t lora = 2 * d * shape_.w_rank + 2 * int64_t{shape_.w_rank} * kd +
                 2 * d * shape_.a_rank + 2 * int64_t{shape_.a_rank} * kd +
                 2 * d * shape_.g_rank + 2 * int64_t{shape_.g_rank} * vd;
  if (layer_ > 0) {
    lora += 2 * d * shape_.v_rank + 2 * int64_t{shape_.v_rank} * vd;
  }
  return 6 * 3 * d + 2 * d * (2 * kd + vd) + 2 * vd * d + lora +
         h * ops::GeneralizedDeltaStepFlops(dk, shape_.head_v_dim()) + 7 * vd +
         3 * kd + 4 * vd;
}

void Rwkv7ChannelMix::Forward(const float* x, absl::Span<const MixerRow> rows,
                              float* out) const {
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t d = shape_.d_model, ff = shape_.ff;
  struct Scratch {
    std::vector<float> prev, xk, hidden;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& prev = buffers.prev;
  std::vector<float>& xk = buffers.xk;
  std::vector<float>& hidden = buffers.hidden;
  prev.resize(n * d);
  xk.resize(n * d);
  hidden.resize(n * ff);
  ShiftRows(x, rows, d, prev.data());
  for (int64_t i = 0; i < n; ++i) {
    ops::ShiftMix(x + i * d, &prev[i * d], w_.mu_k, d, &xk[i * d]);
  }
  ops::Linear(xk.data(), n, key_, hidden.data());  // [R, ff]
  ops::SquaredRelu(hidden.data(), n * ff);
  ops::Linear(hidden.data(), n, value_, out);  // [R, d]
}

int64_t Rwkv7ChannelMix::Flops(int64_t /*held*/) const {
  const int64_t d = shape_.d_model, ff = shape_.ff;
  return 3 * d + 4 * d * ff + 2 * ff;
}

}  // namespace trilemma
