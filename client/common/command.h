// What every `trilemma` subcommand is: a name, a one-line summary and a run
// function. The flags several commands share are in shared_flags.h.
//
// Example (how main.cc dispatches):
//   CommandEnv env{.target = "127.0.0.1:50051", .channel = channel,
//                  .out = std::cout, .err = std::cerr};
//   return RunEnginesCommand(env);
//
// A command reads its own flags (absl::GetFlag) inside its run function,
// validates them before any RPC, and returns an exit code: kExitOk,
// kExitUsage for bad flags, kExitFailure for an RPC or server error (after
// printing the status code and message to `err`). Adding a command is one
// more client/commands/<name>.{h,cc} and one line in main.cc's table.
#ifndef TRILEMMA_CLIENT_COMMON_COMMAND_H_
#define TRILEMMA_CLIENT_COMMON_COMMAND_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace trilemma::client {

enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

// What a command runs against. The streams outlive the call.
struct CommandEnv {
  // The --target flag as given (echoed in reports).
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::ostream& out;
  std::ostream& err;
};

struct CliCommand {
  const char* name;
  const char* summary;
  int (*run)(const CommandEnv& env);
};

// Prints "trilemma <command>: <CODE>: <message>" to `err` and returns
// kExitUsage for client-side INVALID_ARGUMENT (bad flags) when `usage` is
// true, kExitFailure otherwise.
int ReportError(const CommandEnv& env, absl::string_view command,
                const absl::Status& status, bool usage = false);

// Sets the deadline of one RPC or stream from --timeout (none when
// infinite).
void ApplyTimeout(grpc::ClientContext* context);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_COMMAND_H_
