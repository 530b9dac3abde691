// absl::Status -> grpc::Status, code and message unchanged (the numeric
// codes are the same canonical codes).
#ifndef TRILEMMA_SERVER_GRPC_STATUS_H_
#define TRILEMMA_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace trilemma {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string{status.message()});
}

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_GRPC_STATUS_H_
