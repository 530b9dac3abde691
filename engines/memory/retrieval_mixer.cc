#include "engines/memory/retrieval_mixer.h"

#include <cmath>
#include <vector>

#include "engines/ops/attention.h"
#include "engines/ops/retrieval_attention.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/stack/kv_policy.h"

namespace trilemma {
namespace {

class RetrievalSoftmaxMixer final : public TokenMixer {
 public:
  RetrievalSoftmaxMixer(int heads, int head_dim)
      : heads_(heads),
        head_dim_(head_dim),
        scale_(1.0f / std::sqrt(static_cast<float>(head_dim))) {}

  int64_t fixed_floats() const override { return 0; }
  bool keeps_kv() const override { return true; }

  void Mix(const float* q, const float* k, const float* v,
           const MixerState& state, float* o) const override {
    state.kv->WriteKey(state.kv_layer, state.slot, k);  // in the KV format
    state.kv->WriteValue(state.kv_layer, state.slot, v);
    struct Scratch {
      std::vector<const float*> row_keys, row_values;
      std::vector<float> scores;
    };
    Scratch& buffers = ops::ThreadScratch<Scratch>();
    std::vector<const float*>& row_keys = buffers.row_keys;
    std::vector<const float*>& row_values = buffers.row_values;
    std::vector<float>& scores = buffers.scores;
    int64_t found = 0;
    if (state.external != nullptr) {
      const int64_t k_max = state.external->retrieve_k();
      row_keys.resize(k_max);
      row_values.resize(k_max);
      found = state.external->Retrieve(q, row_keys.data(), row_values.data());
    }
    scores.resize(state.held + found);
    ops::AttendSlotsAndRows(q, heads_, head_dim_, scale_, *state.kv,
                            state.kv_layer, state.held, row_keys.data(),
                            row_values.data(), found, scores.data(), o);
  }

  int64_t Flops(int64_t held) const override {
    return ops::AttendFlops(held, int64_t{heads_} * head_dim_);
  }

 private:
  const int heads_;
  const int head_dim_;
  const float scale_;
};

}  // namespace

std::unique_ptr<TokenMixer> MakeRetrievalSoftmaxMixer(int heads, int head_dim) {
  return std::make_unique<RetrievalSoftmaxMixer>(heads, head_dim);
}

}  // namespace trilemma
