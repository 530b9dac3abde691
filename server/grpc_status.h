// absl::Status -> grpc::Status, code and message unchanged (the numeric
// codes are the same canonical codes).
#ifndef TRILEMMA_SERVER_GRPC_STATUS_H_
#define TRILEMMA_SERVER_GRPC_STATUS_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace trilemma {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string{status.message()});
}

// A call's deadline as absl::Time; absl::InfiniteFuture() when the client
// set none (gRPC reports a time point centuries away).
inline absl::Time DeadlineFromGrpc(
    std::chrono::system_clock::time_point deadline) {
  const auto far =
      std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 100);
  if (deadline >= far) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_GRPC_STATUS_H_
