// Which hosted engines a command runs over: ListEngines on the server, then
// the names --engines gave (all of them, in the server's order, for "all").
//
// Example:
//   absl::StatusOr<std::vector<v1::EngineInfo>> engines =
//       ListSelectedEngines(*stub, env.target, {"attention", "mamba"});
//   // INVALID_ARGUMENT "--engines: the server hosts no engine 'rwkv'
//   //   (hosted: attention, mamba)" for an unknown name.
#ifndef TRILEMMA_CLIENT_COMMON_ENGINE_SELECTION_H_
#define TRILEMMA_CLIENT_COMMON_ENGINE_SELECTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trilemma/v1/engine_info.pb.h"
#include "trilemma/v1/trilemma.grpc.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

// One ListEngines call with the --timeout deadline. On failure the gRPC
// status code is kept and its message prefixed with "ListEngines on
// <target>: ".
absl::StatusOr<v1::ListEnginesResponse> ListEngines(
    v1::Trilemma::StubInterface& stub, const std::string& target);

// The engines of `hosted` named in `names` (all of them, in the server's
// order, when `names` is empty; the built-in ones, i.e. all but checkpoint
// engines, for the single name "builtin" unless an engine is so named).
// INVALID_ARGUMENT naming --engines and the hosted names for an unknown name;
// FAILED_PRECONDITION when the server hosts none.
absl::StatusOr<std::vector<v1::EngineInfo>> SelectEngines(
    const v1::ListEnginesResponse& hosted,
    const std::vector<std::string>& names);

// ListEngines, then SelectEngines: the engines a command runs over.
absl::StatusOr<std::vector<v1::EngineInfo>> ListSelectedEngines(
    v1::Trilemma::StubInterface& stub, const std::string& target,
    const std::vector<std::string>& names);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_ENGINE_SELECTION_H_
