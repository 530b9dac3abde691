// `trilemma sweep`: the triangle report. A grid of engines x facts stored N
// (--pairs) x filler length (--contexts) x --repeats, each cell one Session:
// store N MQAR pairs, append the filler (tokens that are neither keys nor
// values), ask --queries one-token queries with recall probes. Writes a
// report directory (client/report/html.h) and prints a summary table and
// the path of report.html.
//
// Example:
//   $ trilemma sweep --engines=all --out=/tmp/report
//   $ trilemma sweep --engines=attention,mamba --pairs=8,64,512
//       --contexts=0,4096 --repeats=2 --seed=7 --out=/tmp/r  (one line)
//
// When --pairs is left at its default (recall's 16,64,256,1024), the sweep
// uses 8,16,32,...,1024. Cells run on --parallel threads (each blocking on
// one session); rows come out in a stable order. A failed cell records its
// error and the run goes on; the exit code is then 1. Cells an engine's
// vocabulary cannot hold (N > vocab / 2; filler beside N = vocab / 2) are
// skipped and counted.
//
// --trained_manifest=FILE (the checkpoint manifest the server was started
// with, common/checkpoint_manifest.h) adds the three layers per
// architecture (client/report/layers.h): every model's engine and its
// circuit are swept (added to --engines when it names others), both also
// at the model's train_pairs, and the summary gains the table
// "capacity@90%: trained / circuit / bound" (docs/trained-vs-circuit.md).
#ifndef TRILEMMA_CLIENT_COMMANDS_SWEEP_H_
#define TRILEMMA_CLIENT_COMMANDS_SWEEP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/common/command.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/manifest.pb.h"
#include "trilemma/v1/report.pb.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma::client {

struct SweepOptions {
  // Engine names; empty means every hosted engine.
  std::vector<std::string> engines;
  std::vector<int32_t> pairs = {8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<int64_t> contexts = {0, 1024, 4096};
  int32_t repeats = 1;
  int32_t queries = 64;
  int32_t parallel = 2;
  uint64_t seed = 0;
  // The report directory.
  std::string out_dir = "trilemma-report";
  // The models of --trained_manifest (empty: no trained layer).
  std::vector<v1::ManifestModel> trained;
};

// The N each engine is measured at: `options.pairs`, plus the train_pairs of
// every trained model the engine is or is the circuit of, ascending, without
// N above vocab / 2 (which its MQAR workload cannot draw).
std::vector<int32_t> SweepPairsFor(const SweepOptions& options,
                                   const v1::EngineInfo& engine);

// The options the sweep flags describe. INVALID_ARGUMENT naming the flag.
absl::StatusOr<SweepOptions> SweepOptionsFromFlags();

// The seed of one cell; equal for every engine, so engines with the same
// vocab see the same pairs, filler and queries.
uint64_t SweepCellSeed(uint64_t seed, int32_t pairs, int64_t filler,
                       int32_t repeat);

// Measures one cell in a fresh session. Never fails as a whole: errors go to
// the row's `error` with whatever was measured before.
v1::SweepRow MeasureSweepCell(v1::Trilemma::StubInterface& stub,
                              const v1::EngineInfo& engine, int32_t pairs,
                              int64_t filler, int32_t repeat, int32_t queries,
                              uint64_t seed);

// Called after each cell with (cells done, cells in all), from any worker.
using SweepProgress = std::function<void(int64_t, int64_t)>;

// Lists and selects the engines, measures every cell and fills the
// summaries (and, with trained models, `trained` and `layers`). Fails only
// when the engines cannot be listed or selected (FAILED_PRECONDITION naming
// --trained_manifest when the server hosts no engine of a model's name or
// circuit).
absl::StatusOr<v1::SweepReport> RunSweep(v1::Trilemma::StubInterface& stub,
                                         const std::string& target,
                                         const SweepOptions& options,
                                         const SweepProgress& progress);

int RunSweepCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_SWEEP_H_
