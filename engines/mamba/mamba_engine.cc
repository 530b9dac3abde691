// Mamba: a stack of selective state-space blocks (Gu & Dao 2023). Each
// session keeps, per block, a conv window [di, K-1] and an SSM state [di, N]:
// constant in context length, so per-step compute and state are flat
// (efficient and compact) and recall is bounded by the state size N.
//
// Forward pass for one step of B sessions:
//   h = E[tokens]                                        [B, d]
//   for each block l:
//     xn     = RmsNorm(h, norm)                          [B, d]
//     x, z   = split(xn · in_projᵀ)                      [B, di] each
//     per session b:
//       xc   = CausalConv(x_b; conv_w, conv_b)           [di]  (window_b)
//       u    = SiLU(xc)                                  [di]
//     dt_raw, Bt, Ct = split(u · x_projᵀ)                [B, R], [B, N], [B, N]
//     dt     = Softplus(dt_raw · dt_projᵀ + dt_bias)     [B, di]
//     per session b:
//       y_b  = SelectiveScan(u_b, dt_b, A = -exp(A_log), Bt_b, Ct_b, D)  [di]
//              (updates ssm_b [di, N])
//     y      = y ⊙ SiLU(z)                               [B, di]
//     h     += y · out_projᵀ                             [B, d]
//   logits = RmsNorm(h, norm_f) · Eᵀ                     [B, V]
//
// Knobs: the common ones (lm_frame.h) plus expand, state_dim, conv_kernel,
// dt_rank and the circuit's delta, forget, in_scale, out_gain.
#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/lm_frame.h"
#include "engines/common/qkv_block.h"
#include "engines/common/softmax_preset.h"
#include "engines/engine.h"
#include "engines/mamba/mamba_preset.h"
#include "engines/ops/matmul.h"
#include "engines/ops/ssm.h"
#include "engines/ops/vector_ops.h"
#include "engines/registry.h"
#include "engines/state/fixed_state.h"

namespace trilemma {
namespace {

// One session: per block, the conv window then the SSM state, in one
// FixedState laid out [layers][di·(K-1) + di·N].
class MambaSession final : public Session {
 public:
  MambaSession(FixedState state, int64_t floats_per_layer)
      : state_(std::move(state)), floats_per_layer_(floats_per_layer) {}

  int64_t state_bytes() const override { return state_.bytes(); }
  int64_t context_tokens() const override { return tokens_; }
  int64_t state_bytes_after(int64_t) const override { return state_.bytes(); }
  absl::Status Reserve(int64_t) override { return absl::OkStatus(); }

  void CopyFrom(const MambaSession& other) {
    state_.CopyFrom(other.state_);
    tokens_ = other.tokens_;
  }

  float* layer_state(int layer) {
    return state_.data() + layer * floats_per_layer_;
  }
  void Advance() { ++tokens_; }

 private:
  FixedState state_;
  int64_t floats_per_layer_;
  int64_t tokens_ = 0;
};

struct MambaBlock {
  MambaBlock(const TensorMap& w, int l)
      : norm(w.Data(LayerTensor(l, "norm"))),
        in_proj(w.Data(LayerTensor(l, "in_proj"))),
        conv_w(w.Data(LayerTensor(l, "conv_w"))),
        conv_b(w.Data(LayerTensor(l, "conv_b"))),
        x_proj(w.Data(LayerTensor(l, "x_proj"))),
        dt_proj(w.Data(LayerTensor(l, "dt_proj"))),
        dt_bias(w.Data(LayerTensor(l, "dt_bias"))),
        d_skip(w.Data(LayerTensor(l, "D"))),
        out_proj(w.Data(LayerTensor(l, "out_proj"))) {
    const Tensor& a_log = w.Get(LayerTensor(l, "A_log"));
    a.resize(a_log.data.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = -std::exp(a_log.data[i]);
  }
  const float *norm, *in_proj, *conv_w, *conv_b, *x_proj, *dt_proj, *dt_bias,
      *d_skip, *out_proj;
  std::vector<float> a;  // A = -exp(A_log), [di, N]
};

class MambaEngine final : public Engine {
 public:
  MambaEngine(v1::EngineInfo info, TensorMap weights, MambaShape shape,
              int64_t budget)
      : info_(std::move(info)),
        weights_(std::move(weights)),
        frame_(weights_),
        s_(shape) {
    for (int l = 0; l < s_.layers; ++l) blocks_.emplace_back(weights_, l);
    floats_per_layer_ =
        int64_t{s_.d_inner} * (s_.conv_kernel - 1 + s_.state_dim);
    // Recurrent state is one fixed charge; the block size only matters for
    // accounting granularity of other state kinds, so use the session size.
    pool_ = std::make_unique<KvBlockPool>(info_.name(), budget,
                                          floats_per_layer_ * s_.layers * 4);
    info_.set_state_budget_bytes(budget);
    info_.set_state_bytes_fixed(floats_per_layer_ * s_.layers * 4);
    info_.set_state_bytes_cap(floats_per_layer_ * s_.layers * 4);
  }

  const v1::EngineInfo& info() const override { return info_; }
  const KvBlockPool& pool() const override { return *pool_; }
  const TensorMap& weights() const override { return weights_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession() const override {
    absl::StatusOr<FixedState> state =
        FixedState::Create(pool_.get(), floats_per_layer_ * s_.layers);
    if (!state.ok()) return state.status();
    return std::unique_ptr<Session>(
        new MambaSession(*std::move(state), floats_per_layer_));
  }

  absl::StatusOr<std::unique_ptr<Session>> Fork(
      const Session& session) const override {
    absl::StatusOr<std::unique_ptr<Session>> fork = NewSession();
    if (!fork.ok()) return fork.status();
    Cast(fork->get())->CopyFrom(static_cast<const MambaSession&>(session));
    return fork;
  }

  absl::Status Step(absl::Span<Session* const> sessions,
                    absl::Span<const int32_t> tokens,
                    float* logits) const override {
    const int64_t batch = static_cast<int64_t>(sessions.size());
    const int d = s_.d_model, di = s_.d_inner, n = s_.state_dim;
    const int r = s_.dt_rank, k = s_.conv_kernel;
    const int dbc = r + 2 * n;
    thread_local std::vector<float> h, xn, xz, u, proj, dt_raw, dt, y, out;
    h.resize(batch * d);
    xn.resize(batch * d);
    xz.resize(batch * 2 * di);
    u.resize(batch * di);
    proj.resize(batch * dbc);
    dt_raw.resize(batch * r);
    dt.resize(batch * di);
    y.resize(batch * di);
    out.resize(batch * d);

    frame_.Embed(tokens, h.data());  // h: [B, d]
    for (int l = 0; l < s_.layers; ++l) {
      const MambaBlock& blk = blocks_[l];
      ops::RmsNorm(h.data(), blk.norm, kRmsNormEps, batch, d, xn.data());
      ops::Linear(xn.data(), batch, d, blk.in_proj, 2 * di, xz.data());
      for (int64_t b = 0; b < batch; ++b) {  // x = xz[b][0:di], z = xz[b][di:]
        float* window = Cast(sessions[b])->layer_state(l);
        float* ub = &u[b * di];
        ops::CausalConvStep(&xz[b * 2 * di], blk.conv_w, blk.conv_b, di, k,
                            window, ub);
        for (int c = 0; c < di; ++c) ub[c] = ops::Silu(ub[c]);
      }
      ops::Linear(u.data(), batch, di, blk.x_proj, dbc, proj.data());
      for (int64_t b = 0; b < batch; ++b) {
        ops::Copy(&proj[b * dbc], &dt_raw[b * r], r);
      }
      ops::Linear(dt_raw.data(), batch, r, blk.dt_proj, di, dt.data());
      for (int64_t i = 0; i < batch * di; ++i) {  // dt = Softplus(· + dt_bias)
        dt[i] = ops::Softplus(dt[i] + blk.dt_bias[i % di]);
      }
      for (int64_t b = 0; b < batch; ++b) {
        float* ssm = Cast(sessions[b])->layer_state(l) + int64_t{di} * (k - 1);
        const float* bt = &proj[b * dbc + r];
        const float* ct = &proj[b * dbc + r + n];
        float* yb = &y[b * di];
        ops::SelectiveScanStep(&u[b * di], &dt[b * di], blk.a.data(), bt, ct,
                               blk.d_skip, di, n, ssm, yb);
        const float* z = &xz[b * 2 * di + di];
        for (int c = 0; c < di; ++c) yb[c] *= ops::Silu(z[c]);
      }
      ops::Linear(y.data(), batch, di, blk.out_proj, d, out.data());
      ops::Add(out.data(), h.data(), batch * d);  // h += y·out_projᵀ
    }
    for (Session* session : sessions) Cast(session)->Advance();
    frame_.Readout(h.data(), batch, xn.data(), logits);  // [B, V]
    return absl::OkStatus();
  }

  StepCost NextStepCost(const Session&) const override {
    const int64_t d = s_.d_model, di = s_.d_inner, n = s_.state_dim;
    const int64_t r = s_.dt_rank;
    const int64_t per_block =
        ops::LinearFlops(1, d, 2 * di) +
        ops::CausalConvFlops(di, s_.conv_kernel) +
        ops::LinearFlops(1, di, r + 2 * n) + ops::LinearFlops(1, r, di) +
        ops::SelectiveScanFlops(di, n) + ops::LinearFlops(1, di, d);
    StepCost cost;
    cost.flops = s_.layers * per_block + frame_.ReadoutFlops();
    cost.bytes = weights_.num_floats() * 4 + info_.state_bytes_fixed() * 2;
    return cost;
  }

 private:
  static MambaSession* Cast(Session* s) {
    return static_cast<MambaSession*>(s);
  }

  v1::EngineInfo info_;
  TensorMap weights_;
  LmFrame frame_;
  MambaShape s_;
  std::vector<MambaBlock> blocks_;
  int64_t floats_per_layer_ = 0;
  std::unique_ptr<KvBlockPool> pool_;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateMambaEngine(
    const EngineSpec& spec) {
  Knobs knobs(spec.knobs);
  const CommonKnobs common = ReadCommonKnobs(knobs);
  MambaCircuit circuit;
  const MambaShape shape = ReadMambaShape(common, knobs, &circuit);
  if (absl::Status s = knobs.Finish(); !s.ok()) return s;
  TensorMap weights;
  AddFrameWeights(common, &weights);
  if (absl::Status s = BuildMambaWeights(common, shape, circuit, &weights);
      !s.ok()) {
    return s;
  }

  v1::EngineInfo info;
  FillCommonInfo(spec.name, "mamba", common, &info);
  info.set_description(absl::StrCat(
      "selective SSM (Mamba block: in_proj, causal conv, Δ/A/B/C/D scan, SiLU "
      "gate) with state N=",
      shape.state_dim, " per channel; ", common.init, " weights",
      DepthNote(common)));
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_heads(1);
  info.mutable_shape()->set_head_dim(shape.d_inner);
  info.mutable_shape()->set_state_dim(shape.state_dim);
  info.set_flops_formula(
      "L*(2*d*2di + 2*K*di + 2*di*(R+2N) + 2*R*di + di*(7N+4) + 2*di*d) + "
      "2*V*d  (di = expand*d; flat in n)");
  info.set_state_formula("L*di*(K-1 + N)*4  (constant)");
  knobs.RecordIn(&info);
  return std::make_unique<MambaEngine>(std::move(info), std::move(weights),
                                       shape, spec.state_budget_bytes);
}

TRILEMMA_REGISTER_ENGINE_FAMILY(EngineFamily{
    .name = "mamba",
    .factory = CreateMambaEngine,
    .default_specs = {PresetSpec("mamba")},
    .conformance_knobs = {{{"init", "random"}, {"state_dim", "4"}},
                          {{"init", "random"},
                           {"depth", "2"},
                           {"conv_kernel", "3"},
                           {"expand", "1"}},
                          {{"depth", "2"}}},
    .display_order = 40});

}  // namespace
}  // namespace trilemma
