// The request plans of `trilemma load` (and the filler of `trilemma sweep`):
// workloads with known answers (MQAR, needle in a haystack) and pure serving
// load (random prompt and output lengths), mixed by weight.
//
// Example:
//   absl::StatusOr<WorkloadMix> mix = ParseWorkloadMix("--workload",
//                                                      "mqar:3,random:1");
//   WorkloadOptions options{.mix = *mix, .pairs = {64}, .queries = 64};
//   absl::StatusOr<RequestPlan> plan = PlanRequest(options, vocab, seed);
//   // plan->session: open, append plan->append, one generate turn per
//   // plan->turns[i]; otherwise one Generate with plan->turns[0].
//
// Every plan is a pure function of (options, vocab, seed), so a run's
// requests are reproducible whatever the timing. Filler and noise tokens
// never equal a stored key or value, so every answer stays unambiguous.
// Random draws use std::mt19937_64 with our own samplers (no
// implementation-defined distributions).
#ifndef TRILEMMA_CLIENT_LOAD_WORKLOAD_H_
#define TRILEMMA_CLIENT_LOAD_WORKLOAD_H_

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/load/text_workload.h"

namespace trilemma::client {

enum class WorkloadKind { kMqar, kNiah, kRandom, kPasskey, kPhonebook };

// "mqar", "niah", "random", "passkey" or "phonebook".
const char* WorkloadName(WorkloadKind kind);

// A length drawn per request: "64" or "fixed:64", "uniform:16:256" (both
// ends included), "normal:128:32" (mean, standard deviation; rounded).
// Samples are clamped to [min, max] of the parse.
struct LengthDistribution {
  enum Kind { kFixed, kUniform, kNormal };
  Kind kind = kFixed;
  double a = 0;  // fixed value, uniform low, or normal mean
  double b = 0;  // uniform high, or normal standard deviation
  int64_t min = 1;
  int64_t max = 1;

  int64_t Sample(std::mt19937_64& rng) const;
  std::string ToString() const;
};

// INVALID_ARGUMENT naming `flag` for a malformed spec or one whose values
// leave [min, max].
absl::StatusOr<LengthDistribution> ParseLengthDistribution(
    absl::string_view flag, absl::string_view text, int64_t min, int64_t max);

struct WorkloadWeight {
  WorkloadKind kind;
  double weight;
};
using WorkloadMix = std::vector<WorkloadWeight>;

// "mqar", "mqar:3,random:1" (weights > 0, default 1; each kind once).
absl::StatusOr<WorkloadMix> ParseWorkloadMix(absl::string_view flag,
                                             absl::string_view text);

// Which stored pair an MQAR query asks for. kUniform: every pair alike.
// kPowerLaw (Zoology): the pair r-th from the end (r = 1 the latest) with
// probability proportional to r^-alpha, so short distances dominate.
struct QueryDistance {
  enum Kind { kUniform, kPowerLaw };
  Kind kind = kUniform;
  double alpha = 1.0;
};

// "uniform", "powerlaw" or "powerlaw:ALPHA" (alpha > 0, default 1).
absl::StatusOr<QueryDistance> ParseQueryDistance(absl::string_view flag,
                                                 absl::string_view text);

// One generate turn (or the single Generate request) of a plan.
struct PlannedTurn {
  // Tokens sent with the turn (the query key; the whole prompt for a
  // Generate request).
  std::vector<int32_t> prompt;
  int32_t max_new_tokens = 1;
  // The known answer (empty: no recall probe) and the probe's distance:
  // tokens strictly between the stored value and the query key.
  std::vector<int32_t> expected;
  int64_t distance = 0;
};

struct RequestPlan {
  WorkloadKind kind = WorkloadKind::kRandom;
  // True: a Session (open, append `append`, one generate turn per turn).
  // False: one Generate request with turns[0].
  bool session = false;
  std::vector<int32_t> append;
  std::vector<PlannedTurn> turns;
  // Text workloads (passkey, phonebook; client/load/text_workload.h): the
  // prompt and answer as text; turns[0] carries only max_new_tokens.
  std::optional<TextPlan> text;
};

struct WorkloadOptions {
  WorkloadMix mix = {{WorkloadKind::kMqar, 1}};
  // mqar: N is drawn uniformly from `pairs` per request; Q queries follow,
  // with `noise` filler tokens after each stored pair.
  std::vector<int32_t> pairs = {64};
  int32_t queries = 64;
  int32_t noise = 0;
  QueryDistance query_distance;
  // niah: haystack length per request; the needle's depth (0 = start,
  // 1 = end of the haystack) is drawn uniformly from `depths`.
  LengthDistribution haystack{LengthDistribution::kFixed, 1024, 0, 1, 1 << 20};
  std::vector<double> depths = {0.5};
  // random: prompt and output lengths per request.
  LengthDistribution prompt_tokens{LengthDistribution::kUniform, 16, 256, 1,
                                   1 << 20};
  LengthDistribution output_tokens{LengthDistribution::kUniform, 16, 128, 1,
                                   65536};
  // passkey: words of filler (the needle's depth is drawn from `depths`);
  // phonebook: entries, drawn uniformly from the list.
  LengthDistribution context_words{LengthDistribution::kFixed, 1000, 0, 1,
                                   1 << 22};
  std::vector<int64_t> entries = {64};
};

// `count` tokens drawn uniformly from [0, vocab) minus `exclude`.
// INVALID_ARGUMENT when nothing is left to draw from.
absl::StatusOr<std::vector<int32_t>> MakeFiller(
    int32_t vocab, const std::vector<int32_t>& exclude, int64_t count,
    std::mt19937_64& rng);

// MQAR through a Session: append k1 v1 [noise] k2 v2 [noise] ..., then
// `queries` one-token turns [k_i] expecting v_i, pairs chosen by
// `distance`. Distances follow the Zoology convention of MqarWorkload (each
// earlier query leaves its key and answer in the context).
absl::StatusOr<RequestPlan> MakeMqarPlan(int32_t vocab, int32_t pairs,
                                         int32_t queries, int32_t noise,
                                         const QueryDistance& distance,
                                         uint64_t seed);

// Needle in a haystack through Generate: `haystack` filler tokens with the
// needle `k v` inserted after round(depth * haystack) of them, then the
// query `k`, expecting `v`. REQUIRES: depth in [0, 1].
absl::StatusOr<RequestPlan> MakeNiahPlan(int32_t vocab, int64_t haystack,
                                         double depth, uint64_t seed);

// Random prompt tokens in [0, vocab) and a random output length; no probe.
absl::StatusOr<RequestPlan> MakeRandomPlan(
    int32_t vocab, const LengthDistribution& prompt_tokens,
    const LengthDistribution& output_tokens, uint64_t seed);

// Picks the workload by weight, then its sizes, all from `seed`.
absl::StatusOr<RequestPlan> PlanRequest(const WorkloadOptions& options,
                                        int32_t vocab, uint64_t seed);

// Uniform double in [0, 1) from 53 random bits.
double Uniform01(std::mt19937_64& rng);

// Standard normal (Box-Muller, one of the pair per call).
double StandardNormal(std::mt19937_64& rng);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_WORKLOAD_H_
