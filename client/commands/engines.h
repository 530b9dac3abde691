// `trilemma engines`: what the server hosts (ListEngines), as a table or as
// the protobuf JSON of ListEnginesResponse.
//
// Example:
//   $ trilemma engines
//   engine          family          corners  d_model  layers ...
//   attention       attention       - - R        128       1 ...
#ifndef TRILEMMA_CLIENT_COMMANDS_ENGINES_H_
#define TRILEMMA_CLIENT_COMMANDS_ENGINES_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/common/command.h"
#include "trilemma/v1/trilemma.grpc.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

// One line per engine: name, family, corners (E/C/R), shape, state bytes
// fixed and per token, budget. "-" marks a field that does not apply.
std::string FormatEnginesTable(const v1::ListEnginesResponse& response);

int RunEnginesCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_ENGINES_H_
