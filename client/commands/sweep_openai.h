// `trilemma sweep` against OpenAI-compatible servers: the sweep's recall
// grid measured through /v1/completions and scored client-side from the
// returned text, in the same report as gRPC engines (docs/http.md, "Sweep
// against any OpenAI-compatible server").
//
// Example:
//   $ trilemma --target=http://127.0.0.1:8000 sweep --api=openai
//       --model=attention,mamba --pairs=8,64 --contexts=0,1024 --out=/tmp/r
//   $ trilemma --target=127.0.0.1:50051 sweep --engines=attention
//       --openai_targets=http://127.0.0.1:8000=attention --out=/tmp/r
//   $ trilemma --target=http://10.0.0.5:8000 sweep --api=openai
//       --model=meta-llama/Llama-3.2-1B --sweep_workload=phonebook
//       --pairs=16,64,256 --out=/tmp/r
//
// Every OpenAI model is one engine of the report, named "MODEL@HOST:PORT"
// (family "openai"), so our engines
// over gRPC, our engines over HTTP and another server's models sit side by
// side in every table and chart. Workloads (--sweep_workload):
//
//   mqar       (default) the gRPC sweep's cells: N pairs, filler, queries of
//              one token. No server-side session: each query is one
//              completion carrying what a Session would hold (pairs, filler,
//              earlier queries with the answers given), so with greedy
//              decoding our engines give the recall of the gRPC sweep. Needs
//              a server that takes token-ID prompts and answers with IDs as
//              text (ours; a text answer counts as a miss).
//   phonebook  text: N = --pairs entries, --queries questions per cell
//              (contexts are not used: filler 0).
//   passkey    text: --contexts are filler words, --queries pass keys per
//              cell at depths spread evenly over [0, 1] (pairs 1).
//
// gRPC engines take the mqar workload only (the built-in engines have no
// tokenizer); with a text workload their rows record why.
#ifndef TRILEMMA_CLIENT_COMMANDS_SWEEP_OPENAI_H_
#define TRILEMMA_CLIENT_COMMANDS_SWEEP_OPENAI_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/commands/sweep.h"
#include "client/common/command.h"
#include "client/load/openai_client.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/report.pb.h"

namespace trilemma::client {

enum class SweepWorkload { kMqar, kPhonebook, kPasskey };

// One model on one OpenAI-compatible server.
struct OpenAiSweepModel {
  OpenAiTarget target;
  std::string model;
};

// What the OpenAI side of a sweep measures.
struct OpenAiSweepOptions {
  // True with --api=openai: --target is an OpenAI server and no gRPC engine
  // is measured.
  bool only_openai = false;
  std::vector<OpenAiSweepModel> models;
  SweepWorkload workload = SweepWorkload::kMqar;
  // --vocab: the token range of MQAR cells for servers that do not say it.
  int32_t vocab = 0;
};

// From --api, --target, --model, --openai_targets, --sweep_workload and
// --vocab; INVALID_ARGUMENT naming the flag.
absl::StatusOr<OpenAiSweepOptions> OpenAiSweepOptionsFromFlags(
    const std::string& target_flag);

// True when the flags ask for anything beyond the plain gRPC sweep.
bool SweepUsesOpenAi();

// Measures one cell of `model` (its EngineInfo as listed, named for the
// report). Never fails as a whole: errors go to the row's `error`.
v1::SweepRow MeasureOpenAiSweepCell(OpenAiConnection& connection,
                                    const std::string& model,
                                    const v1::EngineInfo& engine,
                                    SweepWorkload workload, int32_t pairs,
                                    int64_t filler, int32_t repeat,
                                    int32_t queries, uint64_t seed);

// The sweep over gRPC engines (unless only_openai; `stub` may then be null)
// and every OpenAI model, in one report. Fails only when engines or models
// cannot be listed or selected.
absl::StatusOr<v1::SweepReport> RunOpenAiSweep(
    v1::Trilemma::StubInterface* stub, const std::string& target,
    const SweepOptions& options, const OpenAiSweepOptions& openai,
    const SweepProgress& progress);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_SWEEP_OPENAI_H_
