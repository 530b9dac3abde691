#include "engines/gated_deltanet/gated_deltanet_mixer.h"

#include <cmath>

#include "engines/ops/gated_recurrence.h"
#include "engines/ops/matmul.h"
#include "engines/ops/ssm.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

// The eps fla's kernels add inside the L2 norm of q and k.
constexpr float kQkNormEps = 1e-6f;

void Append(const float* src, int64_t n, std::vector<float>* dst) {
  dst->insert(dst->end(), src, src + n);
}

}  // namespace

GatedDeltaNetMixer::GatedDeltaNetMixer(const Config& config,
                                       const Weights& weights)
    : config_(config), w_(weights) {
  const int64_t d = config.d_model, hv = config.v_heads;
  key_dim_ = int64_t{config.heads} * config.head_k_dim;
  value_dim_ = hv * config.head_v_dim;
  conv_channels_ = 2 * key_dim_ + value_dim_;
  proj_width_ = conv_channels_ + (config.gate ? value_dim_ : 0) + 2 * hv;
  w_in_.reserve(proj_width_ * d);
  Append(w_.q_proj, key_dim_ * d, &w_in_);
  Append(w_.k_proj, key_dim_ * d, &w_in_);
  Append(w_.v_proj, value_dim_ * d, &w_in_);
  if (config.gate) Append(w_.g_proj, value_dim_ * d, &w_in_);
  Append(w_.a_proj, hv * d, &w_in_);
  Append(w_.b_proj, hv * d, &w_in_);
  in_proj_ = ops::LinearWeight(w_in_.data(), proj_width_, d);
  o_proj_ = ops::LinearWeight(w_.o_proj, d, value_dim_);
  if (config.conv > 0) {
    const int64_t k = config.conv;
    Append(w_.q_conv, key_dim_ * k, &w_conv_);
    Append(w_.k_conv, key_dim_ * k, &w_conv_);
    Append(w_.v_conv, value_dim_ * k, &w_conv_);
    zero_conv_bias_.assign(conv_channels_, 0.0f);  // fla's convs have none
  }
  neg_a_.resize(hv);
  for (int64_t j = 0; j < hv; ++j) neg_a_[j] = -std::exp(w_.a_log[j]);
}

MixerStateDecl GatedDeltaNetMixer::state() const {
  const int64_t window = config_.conv > 0 ? config_.conv - 1 : 0;
  return {.fixed_floats = conv_channels_ * window + int64_t{config_.v_heads} *
                                                        config_.head_v_dim *
                                                        config_.head_k_dim,
          .kv_dim = 0};
}

void GatedDeltaNetMixer::Forward(const float* x,
                                 absl::Span<const MixerRow> rows,
                                 float* out) const {
  const int64_t r_count = static_cast<int64_t>(rows.size());
  const int64_t dk = config_.head_k_dim;
  const int64_t dv = config_.head_v_dim, hv = config_.v_heads;
  const int64_t group = hv / config_.heads;  // value heads per key head
  const int64_t window = config_.conv > 0 ? config_.conv - 1 : 0;
  const int64_t g_at = conv_channels_;  // offsets into a projected row
  const int64_t a_at = g_at + (config_.gate ? value_dim_ : 0);
  const int64_t b_at = a_at + hv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
  struct Scratch {
    std::vector<float> proj, qkv, o;
  };
  Scratch& buffers = ops::ThreadScratch<Scratch>();
  std::vector<float>& proj = buffers.proj;
  std::vector<float>& qkv = buffers.qkv;
  std::vector<float>& o = buffers.o;
  proj.resize(r_count * proj_width_);
  qkv.resize(conv_channels_);
  o.resize(r_count * value_dim_);

  ops::Linear(x, r_count, in_proj_, proj.data());  // [R, proj_width]
  for (int64_t r = 0; r < r_count; ++r) {
    const float* pr = &proj[r * proj_width_];
    float* fixed = rows[r].fixed;
    if (config_.conv > 0) {  // q|k|v share one window array
      ops::CausalConvStep(pr, w_conv_.data(), zero_conv_bias_.data(),
                          conv_channels_, config_.conv, fixed, qkv.data());
    } else {
      ops::Copy(pr, qkv.data(), conv_channels_);
    }
    for (float& v : qkv) v = ops::Silu(v);
    float* q = qkv.data();          // [kd]
    float* k = q + key_dim_;        // [kd]
    const float* v = k + key_dim_;  // [vd]
    for (int h = 0; h < config_.heads; ++h) {
      ops::L2NormalizeInside(q + h * dk, dk, kQkNormEps);
      ops::L2NormalizeInside(k + h * dk, dk, kQkNormEps);
    }
    float* s = fixed + conv_channels_ * window;  // [HV, dv, dk]
    float* orow = &o[r * value_dim_];
    for (int64_t j = 0; j < hv; ++j) {
      const float decay =
          std::exp(neg_a_[j] * ops::Softplus(pr[a_at + j] + w_.dt_bias[j]));
      float beta = ops::Sigmoid(pr[b_at + j]);
      if (config_.neg_eigval) beta *= 2.0f;
      const int64_t kh = j / group;
      float* oj = orow + j * dv;
      ops::GatedDeltaRuleStep(decay, beta, k + kh * dk, v + j * dv, q + kh * dk,
                              scale, dk, dv, s + j * dv * dk, oj);
      ops::GatedRmsNorm(oj, config_.gate ? pr + g_at + j * dv : nullptr,
                        w_.o_norm, config_.norm_eps, dv, 1,
                        /*norm_before_gate=*/true, oj);
    }
  }
  ops::Linear(o.data(), r_count, o_proj_, out);  // [R, d]
}

int64_t GatedDeltaNetMixer::Flops(int64_t /*held*/) const {
  const int64_t d = config_.d_model, hv = config_.v_heads;
  const int64_t dk = config_.head_k_dim, dv = config_.head_v_dim;
  return ops::LinearFlops(1, d, proj_width_) +
         (config_.conv > 0 ? ops::CausalConvFlops(conv_channels_, config_.conv)
                           : 0) +
         2 * config_.heads * ops::L2NormalizeInsideFlops(dk) +
         hv * (ops::GatedDeltaRuleStepFlops(dk, dv) +
               ops::GatedRmsNormFlops(dv)) +
         ops::LinearFlops(1, value_dim_, d);
}

}  // namespace trilemma
