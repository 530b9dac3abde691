#include "engines/hybrid/hybrid_mixers.h"

#include <cmath>

#include "engines/ops/attention.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

class SoftmaxKvMixer final : public TokenMixer {
 public:
  SoftmaxKvMixer(int heads, int head_dim)
      : heads_(heads),
        head_dim_(head_dim),
        scale_(1.0f / std::sqrt(static_cast<float>(head_dim))) {}

  int64_t fixed_floats() const override { return 0; }
  bool keeps_kv() const override { return true; }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    const int kv_dim = heads_ * head_dim_;
    ops::Copy(k, state.kv->Key(state.kv_layer, state.slot), kv_dim);
    ops::Copy(v, state.kv->Value(state.kv_layer, state.slot), kv_dim);
    thread_local std::vector<float> scores;
    scores.resize(state.held);
    ops::AttendSlots(q, heads_, head_dim_, scale_, *state.kv, state.kv_layer,
                     state.held, scores.data(), o);
  }

  int64_t Flops(int64_t held) const override {
    return ops::AttendFlops(held, int64_t{heads_} * head_dim_);
  }

 private:
  const int heads_;
  const int head_dim_;
  const float scale_;
};

class ParallelMixer final : public TokenMixer {
 public:
  explicit ParallelMixer(std::vector<MixerPart> parts)
      : parts_(std::move(parts)) {}

  int64_t fixed_floats() const override {
    int64_t floats = 0;
    for (const MixerPart& p : parts_) floats += p.mixer->fixed_floats();
    return floats;
  }
  bool keeps_kv() const override {
    for (const MixerPart& p : parts_) {
      if (p.mixer->keeps_kv()) return true;
    }
    return false;
  }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    MixerState part_state = state;
    for (const MixerPart& p : parts_) {
      p.mixer->Mix(q, k, v, part_state, o);
      q += p.qk_width;
      k += p.qk_width;
      v += p.v_width;
      o += p.v_width;
      part_state.fixed += p.mixer->fixed_floats();
    }
  }

  int64_t Flops(int64_t held) const override {
    int64_t flops = 0;
    for (const MixerPart& p : parts_) flops += p.mixer->Flops(held);
    return flops;
  }

 private:
  const std::vector<MixerPart> parts_;
};

}  // namespace

std::unique_ptr<TokenMixer> MakeSoftmaxKvMixer(int heads, int head_dim) {
  return std::make_unique<SoftmaxKvMixer>(heads, head_dim);
}

std::unique_ptr<TokenMixer> MakeParallelMixer(std::vector<MixerPart> parts) {
  return std::make_unique<ParallelMixer>(std::move(parts));
}

}  // namespace trilemma
