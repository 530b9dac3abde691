#include "engines/common/qkv_block.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engines/common/lm_frame.h"
#include "engines/ops/matmul.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {

std::string LayerTensor(int layer, const std::string& name) {
  return absl::StrCat("layers.", layer, ".", name);
}

namespace {

// P [rows, d]: drops the bias channel 0. Identity on channels 1.. when
// rows >= d - 1, else a Gaussian projection with E[PᵀP] = I on channels 1..
void FillProjection(float* p, int rows, int d, float gain,
                    std::mt19937_64& rng) {
  if (rows >= d - 1) {
    for (int i = 1; i < d; ++i) p[static_cast<int64_t>(i - 1) * d + i] = gain;
    return;
  }
  std::normal_distribution<float> normal(
      0.0f, 1.0f / std::sqrt(static_cast<float>(rows)));
  for (int r = 0; r < rows; ++r) {
    for (int i = 1; i < d; ++i) {
      p[static_cast<int64_t>(r) * d + i] = gain * normal(rng);
    }
  }
}

}  // namespace

void AddQkvBlockWeights(const QkvBlockSpec& spec, int layer,
                        std::mt19937_64& rng, TensorMap* w) {
  const int d = spec.d_model, qk = spec.qk_dim, dv = spec.v_dim;
  float* norm = w->Add(LayerTensor(layer, "norm"), {d});
  float* shift_q = w->Add(LayerTensor(layer, "shift_q"), {2, d});
  float* shift_k = w->Add(LayerTensor(layer, "shift_k"), {2, d});
  float* shift_v = w->Add(LayerTensor(layer, "shift_v"), {2, d});
  float* wq = w->Add(LayerTensor(layer, "wq"), {qk, d});
  float* wk = w->Add(LayerTensor(layer, "wk"), {qk, d});
  float* wv = w->Add(LayerTensor(layer, "wv"), {dv, d});
  float* wo = w->Add(LayerTensor(layer, "wo"), {d, dv});
  if (spec.init == "random") {
    FillNormal(norm, d, 1.0f, 0.1f, rng);
    FillNormal(shift_q, 2 * d, 0.5f, 0.3f, rng);
    FillNormal(shift_k, 2 * d, 0.5f, 0.3f, rng);
    FillNormal(shift_v, 2 * d, 0.5f, 0.3f, rng);
    const float s_in = 1.0f / std::sqrt(static_cast<float>(d));
    FillNormal(wq, int64_t{qk} * d, 0.0f, s_in, rng);
    FillNormal(wk, int64_t{qk} * d, 0.0f, s_in, rng);
    FillNormal(wv, int64_t{dv} * d, 0.0f, s_in, rng);
    if (!spec.zero_output) {
      FillNormal(wo, int64_t{d} * dv, 0.0f,
                 1.0f / std::sqrt(static_cast<float>(dv)), rng);
    }
    return;
  }
  // Circuit: the norm makes each code unit length (codes have |x|² ≈ 1, so
  // x / rms(x) has norm √d); q and v read the current token, k the previous.
  for (int i = 0; i < d; ++i) {
    norm[i] = 1.0f / std::sqrt(static_cast<float>(d));
    shift_q[i] = 1.0f;      // row 0: current token
    shift_k[d + i] = 1.0f;  // row 1: previous token
    shift_v[i] = 1.0f;
  }
  // One projection for q and k so that q·k estimates x_t·x_s.
  std::vector<float> p(static_cast<size_t>(qk) * d, 0.0f);
  FillProjection(p.data(), qk, d, 1.0f, rng);
  for (size_t i = 0; i < p.size(); ++i) {
    wq[i] = spec.q_gain * p[i];
    wk[i] = spec.k_gain * p[i];
  }
  // Values: identity on channels 1.. (dv >= d - 1), read back out through Woᵀ.
  std::vector<float> pv(static_cast<size_t>(dv) * d, 0.0f);
  FillProjection(pv.data(), dv, d, 1.0f, rng);
  for (size_t i = 0; i < pv.size(); ++i) wv[i] = spec.v_gain * pv[i];
  if (!spec.zero_output) {
    for (int r = 0; r < dv; ++r) {
      for (int i = 0; i < d; ++i) {
        wo[static_cast<int64_t>(i) * dv + r] =
            spec.out_gain * pv[static_cast<int64_t>(r) * d + i];
      }
    }
  }
}

void QkvScratch::Resize(int64_t batch, int d, int qk, int dv) {
  q_in.resize(batch * d);
  k_in.resize(batch * d);
  v_in.resize(batch * d);
  q.resize(batch * qk);
  k.resize(batch * qk);
  v.resize(batch * dv);
  o.resize(batch * dv);
}

QkvBlock::QkvBlock(const TensorMap& w, int layer)
    : norm_(w.Data(LayerTensor(layer, "norm"))),
      shift_q_(w.Data(LayerTensor(layer, "shift_q"))),
      shift_k_(w.Data(LayerTensor(layer, "shift_k"))),
      shift_v_(w.Data(LayerTensor(layer, "shift_v"))),
      wq_(w.Data(LayerTensor(layer, "wq"))),
      wk_(w.Data(LayerTensor(layer, "wk"))),
      wv_(w.Data(LayerTensor(layer, "wv"))),
      wo_(w.Data(LayerTensor(layer, "wo"))),
      d_(static_cast<int>(w.Get(LayerTensor(layer, "wq")).shape[1])),
      qk_(static_cast<int>(w.Get(LayerTensor(layer, "wq")).shape[0])),
      dv_(static_cast<int>(w.Get(LayerTensor(layer, "wv")).shape[0])) {}

void QkvBlock::ProjectNormed(const float* normed, int64_t batch,
                             float* const* prev, QkvScratch* s) const {
  // Rows of one session come in order: each reads the previous row's input
  // from prev[b] and leaves its own there.
  for (int64_t b = 0; b < batch; ++b) {
    const float* xn = normed + b * d_;
    ops::TokenShift(xn, prev[b], shift_q_, shift_q_ + d_, d_,
                    s->q_in.data() + b * d_);
    ops::TokenShift(xn, prev[b], shift_k_, shift_k_ + d_, d_,
                    s->k_in.data() + b * d_);
    ops::TokenShift(xn, prev[b], shift_v_, shift_v_ + d_, d_,
                    s->v_in.data() + b * d_);
    ops::Copy(xn, prev[b], d_);
  }
  ops::Linear(s->q_in.data(), batch, d_, wq_, qk_, s->q.data());
  ops::Linear(s->k_in.data(), batch, d_, wk_, qk_, s->k.data());
  ops::Linear(s->v_in.data(), batch, d_, wv_, dv_, s->v.data());
}

void QkvBlock::OutputTo(int64_t batch, QkvScratch* s, float* out) const {
  ops::Linear(s->o.data(), batch, dv_, wo_, d_, out);
}

}  // namespace trilemma
