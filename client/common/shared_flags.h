// The flags several `trilemma` commands share, defined once here, and the
// readers that check them. A command's own flags live in its
// client/commands/<name>.cc; a flag two commands read belongs here.
//
// Example:
//   absl::StatusOr<std::vector<std::string>> names = EnginesFlag();
//   // --engines=all -> {}; --engines=a,b -> {"a", "b"};
//   // --engines=a,a -> INVALID_ARGUMENT "--engines: ..."
//   const uint64_t seed = WorkloadSeedFlag();  // --seed, else a random one
//
// Every reader returns INVALID_ARGUMENT naming the flag for a bad value.
#ifndef TRILEMMA_CLIENT_COMMON_SHARED_FLAGS_H_
#define TRILEMMA_CLIENT_COMMON_SHARED_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/common/flag_parsing.h"

// Every command.
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
// engines, recall (OutputFormat); load (ReportFormat).
ABSL_DECLARE_FLAG(std::string, format);
// generate (sampling seed); recall, load, sweep, soak (workload seed).
ABSL_DECLARE_FLAG(std::optional<uint64_t>, seed);
// recall, load, sweep, soak.
ABSL_DECLARE_FLAG(std::string, engines);
// recall, load, sweep.
ABSL_DECLARE_FLAG(std::string, pairs);
ABSL_DECLARE_FLAG(int32_t, queries);
// load (report file), sweep (report directory).
ABSL_DECLARE_FLAG(std::string, out);
// load, soak.
ABSL_DECLARE_FLAG(double, rate);
ABSL_DECLARE_FLAG(absl::Duration, duration);

namespace trilemma::client {

// Bounds that keep a run's arguments to a sane size; vocab/2 is checked per
// engine when the workload is built.
inline constexpr int64_t kMaxPairs = 1 << 20;
inline constexpr int32_t kMaxQueries = 1 << 20;

// --engines: empty for "all", else the names (non-empty, no duplicates).
absl::StatusOr<std::vector<std::string>> EnginesFlag();

// --pairs: each in [1, kMaxPairs], no duplicates.
absl::StatusOr<std::vector<int64_t>> PairsFlag();

// True while --pairs is at its default (sweep then uses its finer grid).
bool PairsFlagIsDefault();

// --queries in [1, kMaxQueries].
absl::StatusOr<int32_t> QueriesFlag();

// --seed when set, else a fresh random seed (which reports echo, so a run
// can be repeated).
uint64_t WorkloadSeedFlag();

// --format as "table" or "json".
absl::StatusOr<OutputFormat> OutputFormatFlag();

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_SHARED_FLAGS_H_
