// `trilemma load`: a load test whose requests have known answers. Drives
// one or several servers (--target list, round_robin) closed loop
// (--concurrency) or open loop (--rate, Poisson or gamma gaps), with a
// weighted mix of MQAR sessions, needle-in-a-haystack prompts and random
// prompts, and reports per engine: requests by status, TTFT / ITL / TPOT /
// end-to-end percentiles, throughput, goodput against --slo, recall (by
// context length), state bytes and FLOPs per token (trilemma.v1.LoadReport).
//
// Example:
//   $ trilemma load --engines=attention,mamba --workload=mqar --pairs=64
//       --concurrency=8 --requests=64 --format=json     (one line)
//   $ trilemma load --workload=mqar:3,random:1 --rate=50 --duration=10s
//
// A live progress bar goes to stderr when it is a terminal. Every request
// sent is accounted for (sent = ok + failed by status); failed requests are
// measurements, not errors, so the exit code is 0 unless the run could not
// start (bad flags, ListEngines failed) or the report could not be written.
#ifndef TRILEMMA_CLIENT_COMMANDS_LOAD_H_
#define TRILEMMA_CLIENT_COMMANDS_LOAD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/common/command.h"
#include "client/load/output.h"
#include "client/load/runner.h"
#include "trilemma/v1/report.pb.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma::client {

struct LoadCommandOptions {
  // Engine names; empty means every hosted engine.
  std::vector<std::string> engines;
  // Everything but `run.engines`, which RunLoadReport fills.
  LoadRunOptions run;
  // --workload as given (echoed in the report).
  std::string workload;
  v1::LoadSlo slo;
  ReportFormat format = ReportFormat::kTable;
  // Empty: stdout.
  std::string out_path;
};

// The options the load flags describe (a random seed when --seed is unset;
// --requests=100 when neither --requests nor --duration is given).
// INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<LoadCommandOptions> LoadOptionsFromFlags();

// Lists the engines, selects them, runs the load and builds the report
// (settings, target, seed filled in). Fails when the engines cannot be
// listed or selected, the workload does not fit an engine, or the
// accounting invariant breaks (INTERNAL).
absl::StatusOr<v1::LoadReport> RunLoadReport(v1::Trilemma::StubInterface& stub,
                                             const std::string& target,
                                             const LoadCommandOptions& options,
                                             const LoadProgressFn& progress);

int RunLoadCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_LOAD_H_
