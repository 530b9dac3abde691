// `trilemma`: the command-line client of a Trilemma server. Dispatch only:
// each command lives in client/commands/<name>.{h,cc}.
//
//   trilemma [--target=host:port] <command> [flags]
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands/engines.h"
#include "client/commands/generate.h"
#include "client/commands/health.h"
#include "client/commands/load.h"
#include "client/commands/recall.h"
#include "client/commands/soak.h"
#include "client/commands/sweep.h"
#include "client/common/channel.h"
#include "client/common/command.h"
#include "client/common/shared_flags.h"

namespace {

using trilemma::client::CliCommand;

constexpr CliCommand kCommands[] = {
    {"engines", "list the hosted engines: shape, corners, state cost, budget",
     trilemma::client::RunEnginesCommand},
    {"health", "is the server serving? (standard gRPC health service)",
     trilemma::client::RunHealthCommand},
    {"generate",
     "stream tokens from one engine: --engine=E --prompt=\"3 17 42\" "
     "--max_new_tokens=8",
     trilemma::client::RunGenerateCommand},
    {"recall",
     "MQAR recall comparison: --engines=all --pairs=16,64,256,1024 "
     "[--queries=64] [--seed=S] [--format=table|json]",
     trilemma::client::RunRecallCommand},
    {"load",
     "load test with known answers: --engines=a,b --workload=mqar:3,random:1 "
     "--concurrency=8 | --rate=50 [--burstiness=1] --requests=N | "
     "--duration=10s [--slo=ttft:200ms,itl:50ms] [--format=table|json|csv] "
     "[--out=FILE]",
     trilemma::client::RunLoadCommand},
    {"sweep",
     "the triangle report: --engines=all --pairs=8,...,1024 "
     "--contexts=0,1024,4096 [--repeats=1] [--seed=S] --out=DIR "
     "(report.html, SVGs, sweep.csv, sweep.json)",
     trilemma::client::RunSweepCommand},
    {"soak",
     "overload soak: mixed Generate/Session load at --soak_multiple x the "
     "sustainable rate for --duration with cancels, short deadlines, slow "
     "readers, killed clients; prints sent = OK + each status, hung, gauges, "
     "RSS [--server_pid=P --metrics_target=H:P]",
     trilemma::client::RunSoakCommand},
};

std::string Usage() {
  std::string usage =
      "the Trilemma client.\n\n"
      "usage: trilemma [--target=host:port] <command> [flags]\n\ncommands:\n";
  for (const CliCommand& command : kCommands) {
    absl::StrAppend(&usage, "  ", command.name,
                    std::string(10 - std::string(command.name).size(), ' '),
                    command.summary, "\n");
  }
  absl::StrAppend(&usage,
                  "\nExit status: 0 ok, 1 RPC or server error (the gRPC "
                  "status code and message are printed), 2 bad usage.");
  return usage;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig config;
  // --help lists the client's own flags, not those of linked libraries.
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "client/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(Usage());
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);

  if (args.size() != 2) {
    std::cerr << (args.size() < 2 ? "trilemma: no command given\n"
                                  : "trilemma: one command expected\n")
              << "usage: trilemma [--target=host:port] <command> [flags]; "
                 "trilemma --help lists commands and flags\n";
    return trilemma::client::kExitUsage;
  }
  const std::string name = args[1];
  const CliCommand* command = nullptr;
  for (const CliCommand& candidate : kCommands) {
    if (name == candidate.name) command = &candidate;
  }
  if (command == nullptr) {
    std::cerr << "trilemma: unknown command '" << name
              << "'; trilemma --help lists commands\n";
    return trilemma::client::kExitUsage;
  }

  const std::string target = absl::GetFlag(FLAGS_target);
  absl::StatusOr<std::string> uri = trilemma::client::TargetUri(target);
  trilemma::client::CommandEnv env{
      .target = target, .channel = nullptr, .out = std::cout, .err = std::cerr};
  if (!uri.ok()) {
    return trilemma::client::ReportError(env, name, uri.status(), true);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      trilemma::client::CreateClientChannel(
          *uri, trilemma::client::SecurityFromFlags());
  if (!channel.ok()) {
    return trilemma::client::ReportError(env, name, channel.status(), true);
  }
  env.channel = *std::move(channel);
  return command->run(env);
}
