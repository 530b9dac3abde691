#include "server/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/argmax.h"

namespace trilemma {

absl::Status ValidateSampling(const v1::Sampling& sampling,
                              absl::string_view field) {
  const float t = sampling.temperature();
  if (!(t >= 0.0f && t <= 100.0f)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".temperature: must be in [0, 100], got ", t));
  }
  if (sampling.top_k() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".top_k: must be >= 0, got ", sampling.top_k()));
  }
  const float p = sampling.top_p();
  if (!(p >= 0.0f && p <= 1.0f)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".top_p: must be in [0, 1], got ", p));
  }
  return absl::OkStatus();
}

int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(
      ArgmaxOf(logits.data(), static_cast<int64_t>(logits.size())));
}

Sampler::Sampler(const v1::Sampling& sampling)
    : temperature_(sampling.temperature()),
      top_k_(sampling.top_k()),
      top_p_(sampling.top_p() > 0.0f ? sampling.top_p() : 1.0f),
      rng_(sampling.seed()) {}

int32_t Sampler::Sample(absl::Span<const float> logits) {
  if (greedy()) return Argmax(logits);

  const size_t vocab = logits.size();
  candidates_.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) {
    candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  }
  // Highest logit first, lowest id among equals, so the candidate order (and
  // hence the token a given random draw picks) is fully determined.
  auto higher = [](const std::pair<float, int32_t>& a,
                   const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  size_t keep = vocab;
  if (top_k_ > 0 && static_cast<size_t>(top_k_) < vocab) {
    keep = static_cast<size_t>(top_k_);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep,
                      candidates_.end(), higher);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), higher);
  }

  // Softmax over the kept candidates, in double to keep tiny tails exact.
  const double max_logit = candidates_[0].first;
  double total = 0.0;
  std::vector<double>& weights = weights_;
  weights.resize(keep);
  for (size_t i = 0; i < keep; ++i) {
    weights[i] = std::exp((candidates_[i].first - max_logit) / temperature_);
    total += weights[i];
  }
  // Nucleus: the shortest prefix (most likely first) whose probability mass
  // reaches top_p; the draw below renormalises over it.
  if (top_p_ < 1.0f) {
    const double mass = static_cast<double>(top_p_) * total;
    double cumulative = 0.0;
    size_t nucleus = 0;
    while (nucleus < keep) {
      cumulative += weights[nucleus++];
      if (cumulative >= mass) break;
    }
    keep = nucleus;
    total = cumulative;
  }
  // A uniform draw in [0, 1) from the top 53 bits: independent of the
  // standard library's distribution implementations.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double target = u * total;
  for (size_t i = 0; i < keep; ++i) {
    target -= weights[i];
    if (target < 0.0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace trilemma
