#include "engines/common/matrix_mixers.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/common/qkv_block.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

// Per-head parameters of block `layer`, copied out of the weights.
std::vector<float> HeadParams(const TensorMap& weights, int layer,
                              const std::string& name) {
  return weights.Get(LayerTensor(layer, name)).data;
}

class LinearAttentionMixer final : public TokenMixer {
 public:
  LinearAttentionMixer(const LinearAttentionKnobs& knobs, int v_dim,
                       std::vector<float> decay)
      : map_(knobs.map()),
        normalize_(knobs.normalize),
        heads_(knobs.heads),
        dk_(knobs.qk_dim / knobs.heads),
        dv_(v_dim / knobs.heads),
        dphi_(knobs.feature_dim()),
        decay_(std::move(decay)) {}

  // Per head: S [d_φ, dv/H], then z [d_φ] when normalised.
  int64_t fixed_floats() const override {
    return heads_ * (dphi_ * dv_ + (normalize_ ? dphi_ : 0));
  }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    thread_local std::vector<float> phi_q, phi_k;
    phi_q.resize(dphi_);
    phi_k.resize(dphi_);
    float* s = state.fixed;
    for (int h = 0; h < heads_; ++h) {
      float* z = normalize_ ? s + dphi_ * dv_ : nullptr;
      ops::ApplyFeatureMap(map_, q + h * dk_, dk_, normalize_, phi_q.data());
      ops::ApplyFeatureMap(map_, k + h * dk_, dk_, normalize_, phi_k.data());
      ops::DecayedOuterUpdate(decay_[h], phi_k.data(), v + h * dv_, dphi_, dv_,
                              s, z);
      ops::OuterRead(s, z, phi_q.data(), dphi_, dv_, o + h * dv_);
      s += dphi_ * dv_ + (normalize_ ? dphi_ : 0);
    }
  }

  int64_t Flops(int64_t) const override {
    int64_t flops = 0;
    for (int h = 0; h < heads_; ++h) {
      flops += 2 * ops::FeatureMapFlops(map_, dk_, normalize_) +
               ops::DecayedOuterUpdateFlops(dphi_, dv_, decay_[h] != 1.0f,
                                            normalize_) +
               ops::OuterReadFlops(dphi_, dv_, normalize_);
    }
    return flops;
  }

 private:
  const ops::FeatureMap map_;
  const bool normalize_;
  const int heads_;
  const int64_t dk_, dv_, dphi_;
  const std::vector<float> decay_;
};

class DeltaRuleMixer final : public TokenMixer {
 public:
  DeltaRuleMixer(const DeltaRuleKnobs& knobs, int v_dim,
                 std::vector<float> alpha, std::vector<float> beta)
      : heads_(knobs.heads),
        dk_(knobs.qk_dim / knobs.heads),
        dv_(v_dim / knobs.heads),
        alpha_(std::move(alpha)),
        beta_(std::move(beta)) {}

  // Per head: S = Mᵀ [dk, dv/H].
  int64_t fixed_floats() const override { return heads_ * dk_ * dv_; }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    thread_local std::vector<float> qn, kn, u;
    qn.resize(dk_);
    kn.resize(dk_);
    u.resize(dv_);
    for (int h = 0; h < heads_; ++h) {
      float* s = state.fixed + h * dk_ * dv_;
      ops::Copy(q + h * dk_, qn.data(), dk_);
      ops::Copy(k + h * dk_, kn.data(), dk_);
      ops::L2Normalize(qn.data(), dk_);
      ops::L2Normalize(kn.data(), dk_);
      ops::DeltaRuleUpdate(alpha_[h], beta_[h], kn.data(), v + h * dv_, dk_,
                           dv_, s, u.data());
      ops::OuterRead(s, nullptr, qn.data(), dk_, dv_, o + h * dv_);
    }
  }

  int64_t Flops(int64_t) const override {
    int64_t flops = 0;
    for (int h = 0; h < heads_; ++h) {
      flops += 2 * ops::L2NormalizeFlops(dk_) +
               ops::DeltaRuleUpdateFlops(dk_, dv_, alpha_[h] != 1.0f) +
               ops::OuterReadFlops(dk_, dv_, false);
    }
    return flops;
  }

 private:
  const int heads_;
  const int64_t dk_, dv_;
  const std::vector<float> alpha_, beta_;
};

absl::Status CheckHeads(int heads, int qk_dim, int v_dim) {
  if (qk_dim % heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.heads: ", heads, " does not divide qk_dim ", qk_dim));
  }
  if (v_dim % heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "knobs.heads: ", heads, " does not divide the value width ", v_dim));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t LinearAttentionKnobs::feature_dim() const {
  return ops::FeatureDim(map(), qk_dim / heads, normalize);
}

int64_t LinearAttentionKnobs::state_floats(int v_dim) const {
  return feature_dim() * (v_dim / heads) + (normalize ? feature_dim() : 0);
}

LinearAttentionKnobs ReadLinearAttentionKnobs(
    Knobs& knobs, int d_model, const std::string& default_feature,
    const std::string& out_gain_name) {
  LinearAttentionKnobs k;
  k.feature =
      knobs.Choice("feature", default_feature, {"identity", "elu1", "taylor2"});
  k.normalize = knobs.Int("normalize", k.feature == "elu1" ? 1 : 0, 0, 1) == 1;
  int qk_dim = d_model;
  float qk_gain = 1.0f, out_gain = 8.0f;
  if (k.feature == "elu1") {
    // elu+1 is near-linear with a unit offset at small inputs, which makes
    // every key look alike; a large gain is as selective as it gets.
    qk_gain = 32.0f;
  } else if (k.feature == "taylor2") {
    // Gain 4 puts (q·k)²/2 in charge (a match scores 16 + 128); out_gain
    // brings a matched answer back to ≈ 8·v.
    qk_dim = 32;
    qk_gain = 4.0f;
    out_gain = 0.0625f;
  }
  // A normalised read is a weighted mean of values (|o| ≤ max |v|) that
  // shrinks as matches get diluted: lift it well above the residual.
  if (k.normalize) out_gain = 256.0f;
  k.heads = static_cast<int>(knobs.Int("heads", 1, 1, 64));
  k.qk_dim = static_cast<int>(knobs.Int("qk_dim", qk_dim, 1, 4096));
  k.gamma = static_cast<float>(knobs.Float("gamma", 1.0, 0.0, 1.0));
  k.qk_gain = static_cast<float>(knobs.Float("qk_gain", qk_gain, 0.0, 1e4));
  k.out_gain =
      static_cast<float>(knobs.Float(out_gain_name, out_gain, 0.0, 1e6));
  return k;
}

absl::Status ValidateLinearAttention(const LinearAttentionKnobs& knobs,
                                     int v_dim) {
  if (absl::Status s = CheckHeads(knobs.heads, knobs.qk_dim, v_dim); !s.ok()) {
    return s;
  }
  if (knobs.normalize && knobs.map() == ops::FeatureMap::kIdentity) {
    return absl::InvalidArgumentError(
        "knobs.normalize: identity features can sum to zero; the normaliser "
        "needs feature elu1 or taylor2");
  }
  return absl::OkStatus();
}

void AddLinearAttentionParams(const LinearAttentionKnobs& knobs, int layer,
                              TensorMap* weights) {
  float* decay = weights->Add(LayerTensor(layer, "decay"), {knobs.heads});
  for (int h = 0; h < knobs.heads; ++h) decay[h] = knobs.gamma;
}

std::unique_ptr<TokenMixer> MakeLinearAttentionMixer(
    const TensorMap& weights, int layer, const LinearAttentionKnobs& knobs,
    int v_dim) {
  return std::make_unique<LinearAttentionMixer>(
      knobs, v_dim, HeadParams(weights, layer, "decay"));
}

DeltaRuleKnobs ReadDeltaRuleKnobs(Knobs& knobs, int d_model,
                                  const std::string& beta_name,
                                  const std::string& out_gain_name) {
  DeltaRuleKnobs k;
  k.heads = static_cast<int>(knobs.Int("heads", k.heads, 1, 64));
  k.qk_dim = static_cast<int>(knobs.Int("qk_dim", d_model, 1, 4096));
  k.alpha = static_cast<float>(knobs.Float("alpha", k.alpha, 0.0, 1.0));
  k.beta = static_cast<float>(knobs.Float(beta_name, k.beta, 0.0, 2.0));
  // A pair just written reads back as β·v: scale it to ≈ 8·v whatever β.
  k.out_gain = static_cast<float>(
      knobs.Float(out_gain_name, 8.0 / std::max(k.beta, 1e-3f), 0.0, 1e6));
  return k;
}

absl::Status ValidateDeltaRule(const DeltaRuleKnobs& knobs, int v_dim) {
  return CheckHeads(knobs.heads, knobs.qk_dim, v_dim);
}

void AddDeltaRuleParams(const DeltaRuleKnobs& knobs, int layer,
                        TensorMap* weights) {
  float* alpha = weights->Add(LayerTensor(layer, "alpha"), {knobs.heads});
  float* beta = weights->Add(LayerTensor(layer, "beta"), {knobs.heads});
  for (int h = 0; h < knobs.heads; ++h) {
    alpha[h] = knobs.alpha;
    beta[h] = knobs.beta;
  }
}

std::unique_ptr<TokenMixer> MakeDeltaRuleMixer(const TensorMap& weights,
                                               int layer,
                                               const DeltaRuleKnobs& knobs,
                                               int v_dim) {
  return std::make_unique<DeltaRuleMixer>(knobs, v_dim,
                                          HeadParams(weights, layer, "alpha"),
                                          HeadParams(weights, layer, "beta"));
}

}  // namespace trilemma
