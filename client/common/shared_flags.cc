#include "client/common/shared_flags.h"

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "Server address: host:port, a comma-separated list of host:port "
          "(calls are spread round-robin), or a gRPC URI such as "
          "dns:///trilemma:50051.");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(2),
          "Deadline of each RPC (a recall session counts as one); "
          "\"inf\" for none.");
ABSL_FLAG(std::string, format, "table",
          "Output of `engines` and `recall`: table (aligned text) or json "
          "(protobuf JSON of the response or report message).");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt,
          "generate: the sampling seed (default 0). recall: the workload "
          "seed (default: a fresh random seed, printed in the report).");
ABSL_FLAG(std::string, engines, "all",
          "recall: engines to measure, comma-separated, \"all\", or "
          "\"builtin\" (all but checkpoint engines).");
ABSL_FLAG(std::string, pairs, "16,64,256,1024",
          "recall: numbers of key-value pairs N to store, comma-separated.");
ABSL_FLAG(int32_t, queries, 64, "recall: queries asked per engine and N.");
ABSL_FLAG(std::string, out, "",
          "load: write the report (in --format) to this file; the table "
          "still goes to stdout. sweep: the report directory (default "
          "trilemma-report).");
ABSL_FLAG(double, rate, 0,
          "load: open loop, mean arrivals per second (Poisson unless "
          "--burstiness); requests are sent on time whatever is in flight.");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "load: stop sending after this long, e.g. 10s (0 = no bound).");

namespace trilemma::client {

absl::StatusOr<std::vector<std::string>> EnginesFlag() {
  const std::string engines = absl::GetFlag(FLAGS_engines);
  if (engines == "all") return std::vector<std::string>();
  return ParseNameList("--engines", engines);
}

absl::StatusOr<std::vector<int64_t>> PairsFlag() {
  return ParseIntList("--pairs", absl::GetFlag(FLAGS_pairs), 1, kMaxPairs);
}

bool PairsFlagIsDefault() {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag("pairs");
  return flag != nullptr && flag->CurrentValue() == flag->DefaultValue();
}

absl::StatusOr<int32_t> QueriesFlag() {
  const int32_t queries = absl::GetFlag(FLAGS_queries);
  if (queries < 1 || queries > kMaxQueries) {
    return absl::InvalidArgumentError(
        absl::StrCat("--queries: ", queries, " not in [1, ", kMaxQueries, "]"));
  }
  return queries;
}

uint64_t WorkloadSeedFlag() {
  const std::optional<uint64_t> seed = absl::GetFlag(FLAGS_seed);
  if (seed.has_value()) return *seed;
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

absl::StatusOr<OutputFormat> OutputFormatFlag() {
  return ParseOutputFormat("--format", absl::GetFlag(FLAGS_format));
}

}  // namespace trilemma::client
