// `trilemma recall`: the MQAR recall comparison. For each engine and each
// number of pairs N, one Session stores N key-value pairs, then asks Q
// queries, each a generate turn of one token carrying a RecallProbe; the
// server scores the probes. Reports recall, state bytes after storing,
// FLOPs per generated token and ms per step (trilemma.v1.RecallReport).
//
// Example:
//   $ trilemma recall --engines=attention,mamba --pairs=16,256 --format=json
//
// Engines run concurrently, one thread and one session at a time each; rows
// are reported in a stable order (engines as listed, or in the server's
// order for "all"; N as listed). A row that fails (e.g. RESOURCE_EXHAUSTED)
// records its error and the run continues.
#ifndef TRILEMMA_CLIENT_COMMANDS_RECALL_H_
#define TRILEMMA_CLIENT_COMMANDS_RECALL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/common/command.h"
#include "client/common/flag_parsing.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/report.pb.h"
#include "trilemma/v1/trilemma.grpc.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

struct RecallOptions {
  // Engine names to measure; empty means every hosted engine.
  std::vector<std::string> engines;
  std::vector<int32_t> pairs;
  int32_t queries = 64;
  // The run's seed; each N's workload uses DeriveSeed(seed, N), so every
  // engine sees the same pairs and queries at a given N (for equal vocab).
  uint64_t seed = 0;
  OutputFormat format = OutputFormat::kTable;
};

// The options the --engines, --pairs, --queries, --seed and --format flags
// describe; a random seed when --seed is unset. INVALID_ARGUMENT naming the
// flag otherwise.
absl::StatusOr<RecallOptions> RecallOptionsFromFlags();

// Measures one engine at one N in a fresh session. Never fails as a whole:
// errors (the gRPC status, or a limit that ended a turn) go to `error`, with
// whatever was measured before.
v1::RecallRow MeasureRecallRow(v1::Trilemma::StubInterface& stub,
                               const v1::EngineInfo& engine, int32_t pairs,
                               int32_t queries, uint64_t seed);

// Called once per finished row, from the engine's thread (calls may be
// concurrent).
using RecallProgress = std::function<void(const v1::RecallRow&)>;

// Measures every selected engine at every N. Fails only when the engine list
// cannot be fetched or selected; row failures are recorded in the rows.
absl::StatusOr<v1::RecallReport> RunRecall(v1::Trilemma::StubInterface& stub,
                                           const std::string& target,
                                           const RecallOptions& options,
                                           const RecallProgress& progress);

// engine x N -> recall, hits/queries, context, state bytes, FLOPs/token,
// ms/token (and external bytes and errors when any row has them), followed
// by a line naming the seed.
std::string FormatRecallTable(const v1::RecallReport& report);

int RunRecallCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_RECALL_H_
