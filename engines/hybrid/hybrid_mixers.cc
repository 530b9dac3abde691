#include "engines/hybrid/hybrid_mixers.h"

#include <cmath>

#include "engines/ops/attention.h"
#include "engines/ops/vector_ops.h"

namespace trilemma {
namespace {

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

std::unique_ptr<TokenMixer> MakeParallelMixer(std::vector<MixerPart> parts) {
  return std::make_unique<ParallelMixer>(std::move(parts));
}

}  // namespace trilemma
