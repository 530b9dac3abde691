#include "client/command.h"

#include "absl/flags/flag.h"
#include "client/channel.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "Server address: host:port, a comma-separated list of host:port "
          "(calls are spread round-robin), or a gRPC URI such as "
          "dns:///trilemma:50051.");
ABSL_FLAG(std::string, format, "table",
          "Output of `engines` and `recall`: table (aligned text) or json "
          "(protobuf JSON of the response or report message).");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(2),
          "Deadline of each RPC (a recall session counts as one); "
          "\"inf\" for none.");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt,
          "generate: the sampling seed (default 0). recall: the workload "
          "seed (default: a fresh random seed, printed in the report).");

namespace trilemma::client {

int ReportError(const CommandEnv& env, absl::string_view command,
                const absl::Status& status, bool usage) {
  env.err << "trilemma " << command << ": " << StatusText(status) << "\n";
  return usage ? kExitUsage : kExitFailure;
}

void ApplyTimeout(grpc::ClientContext* context) {
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout == absl::InfiniteDuration()) return;
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

}  // namespace trilemma::client
