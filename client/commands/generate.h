// `trilemma generate`: one Generate stream; prints each token as it arrives,
// then the summary.
//
// Example:
//   $ trilemma generate --engine=attention --prompt="3 17 42" -max_new_tokens=4
//   5021 17 42 5021
//   finish LENGTH
//     tokens   3 prompt + 4 generated, context 7
//     ...
#ifndef TRILEMMA_CLIENT_COMMANDS_GENERATE_H_
#define TRILEMMA_CLIENT_COMMANDS_GENERATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/common/command.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::client {

// The request the generate flags describe. INVALID_ARGUMENT naming the flag
// for a missing engine, a malformed prompt or an out-of-range value.
absl::StatusOr<v1::GenerateRequest> GenerateRequestFromFlags();

// The summary as a few indented lines (finish reason, token counts, times,
// state, FLOPs, and the recall result when probed).
std::string FormatSummary(const v1::Summary& summary);

int RunGenerateCommand(const CommandEnv& env);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMANDS_GENERATE_H_
