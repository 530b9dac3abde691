// Sampler: chooses the next token from one step's logits.
//
// Greedy argmax by default (what recall probes are scored with); with a
// temperature, samples from softmax(logits / temperature), optionally
// restricted to the top_k most likely tokens and then to the nucleus (the
// fewest most likely tokens whose probability reaches top_p), from a
// per-request random stream seeded by Sampling.seed — so the same seed, prompt
// and engine give the same tokens.
//
// Example:
//   ABSL_CHECK_OK(ValidateSampling(request.sampling(), "sampling"));
//   Sampler sampler(request.sampling());
//   int32_t token = sampler.Sample(logits);
//
// Not thread-safe: one per request, used by the engine's scheduler thread.
#ifndef TRILEMMA_SERVER_SAMPLER_H_
#define TRILEMMA_SERVER_SAMPLER_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

// INVALID_ARGUMENT naming `field` (e.g. "sampling.temperature") unless
// temperature is in [0, 100] (and finite), top_k >= 0 and top_p in [0, 1].
absl::Status ValidateSampling(const v1::Sampling& sampling,
                              absl::string_view field);

class Sampler {
 public:
  // REQUIRES: ValidateSampling(sampling).ok().
  explicit Sampler(const v1::Sampling& sampling = {});

  bool greedy() const { return temperature_ == 0.0f; }

  // The next token. REQUIRES: !logits.empty().
  int32_t Sample(absl::Span<const float> logits);

 private:
  float temperature_;
  int32_t top_k_;
  float top_p_;  // in (0, 1]; 1 keeps every candidate
  std::mt19937_64 rng_;
  // Candidate (logit, id) pairs, reused across calls.
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<double> weights_;
};

// The index of the largest logit; the lowest index wins ties.
int32_t Argmax(absl::Span<const float> logits);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SAMPLER_H_
