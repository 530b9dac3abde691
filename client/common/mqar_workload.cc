#include "client/common/mqar_workload.h"

#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma::client {
namespace {

// Uniform in [0, n) by rejection, so results do not depend on the standard
// library's distribution implementation. REQUIRES: n > 0.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// The first `count` entries of a uniformly random permutation of
// [first, first + range) (partial Fisher-Yates).
std::vector<int32_t> SampleWithoutReplacement(std::mt19937_64& rng,
                                              int32_t first, int32_t range,
                                              int32_t count) {
  std::vector<int32_t> pool(range);
  std::iota(pool.begin(), pool.end(), first);
  for (int32_t i = 0; i < count; ++i) {
    const uint64_t j = i + UniformBelow(rng, range - i);
    std::swap(pool[i], pool[j]);
  }
  pool.resize(count);
  return pool;
}

}  // namespace

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  // splitmix64 finaliser over the combined value.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

absl::StatusOr<MqarWorkload> MakeMqarWorkload(const MqarOptions& options) {
  if (options.vocab < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab: ", options.vocab, " < 2"));
  }
  const int32_t half = options.vocab / 2;
  if (options.pairs < 1 || options.pairs > half) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs: ", options.pairs, " not in [1, vocab/2 = ", half,
                     "] (keys must be distinct tokens of the lower half)"));
  }
  if (options.queries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries: ", options.queries, " < 0"));
  }
  std::mt19937_64 rng(options.seed);
  MqarWorkload w;
  w.keys = SampleWithoutReplacement(rng, 0, half, options.pairs);
  w.values =
      SampleWithoutReplacement(rng, half, options.vocab - half, options.pairs);
  w.context.reserve(2 * options.pairs);
  for (int32_t i = 0; i < options.pairs; ++i) {
    w.context.push_back(w.keys[i]);
    w.context.push_back(w.values[i]);
  }

  std::vector<int32_t> order(options.pairs);
  w.queries.reserve(options.queries);
  for (int32_t q = 0; q < options.queries; ++q) {
    const int32_t round_index = q % options.pairs;
    if (round_index == 0) {
      std::iota(order.begin(), order.end(), 0);
      for (int32_t i = options.pairs - 1; i > 0; --i) {
        std::swap(order[i], order[UniformBelow(rng, i + 1)]);
      }
    }
    const int32_t pair = order[round_index];
    w.queries.push_back(MqarQuery{
        .pair = pair,
        .key = w.keys[pair],
        .value = w.values[pair],
        .distance = 2 * static_cast<int64_t>(options.pairs - 1 - pair) +
                    2 * static_cast<int64_t>(q)});
  }
  return w;
}

}  // namespace trilemma::client
