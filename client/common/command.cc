#include "client/common/command.h"

#include "absl/flags/flag.h"
#include "client/common/channel.h"
#include "client/common/shared_flags.h"

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
