#include "client/commands/health.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "client/common/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/health/v1/health.pb.h"

namespace trilemma::client {

int RunHealthCommand(const CommandEnv& env) {
  using grpc::health::v1::HealthCheckResponse;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub =
      grpc::health::v1::Health::NewStub(env.channel);
  grpc::ClientContext context;
  ApplyTimeout(&context);
  HealthCheckResponse response;
  const grpc::Status status =
      stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) {
    const absl::Status s = ToAbslStatus(status);
    return ReportError(
        env, "health",
        absl::Status(s.code(), absl::StrCat("Health/Check on ", env.target,
                                            ": ", s.message())));
  }
  env.out << HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  env.out.flush();
  return response.status() == HealthCheckResponse::SERVING ? kExitOk
                                                           : kExitFailure;
}

}  // namespace trilemma::client
