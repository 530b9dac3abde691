// `trilemma health`: asks the server's standard gRPC health service
// (grpc.health.v1.Health/Check) whether it is serving. For container health
// checks and scripts: exit 0 when SERVING, 1 otherwise (including while the
// server drains, when it reports NOT_SERVING).
//
// Example:
//   $ trilemma --target=127.0.0.1:50051 health
//   SERVING
#ifndef TRILEMMA_CLIENT_COMMANDS_HEALTH_H_
#define TRILEMMA_CLIENT_COMMANDS_HEALTH_H_

#include "client/common/command.h"

namespace trilemma::client {

int RunHealthCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_HEALTH_H_
