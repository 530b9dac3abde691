#include "client/common/engine_selection.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/common/channel.h"
#include "client/common/command.h"
#include "grpcpp/client_context.h"

namespace trilemma::client {

absl::StatusOr<v1::ListEnginesResponse> ListEngines(
    v1::Trilemma::StubInterface& stub, const std::string& target) {
  grpc::ClientContext context;
  ApplyTimeout(&context);
  v1::ListEnginesResponse response;
  const grpc::Status status =
      stub.ListEngines(&context, v1::ListEnginesRequest(), &response);
  if (!status.ok()) {
    const absl::Status failed = ToAbslStatus(status);
    return absl::Status(failed.code(), absl::StrCat("ListEngines on ", target,
                                                    ": ", failed.message()));
  }
  return response;
}

absl::StatusOr<std::vector<v1::EngineInfo>> SelectEngines(
    const v1::ListEnginesResponse& hosted,
    const std::vector<std::string>& names) {
  if (names.empty()) {
    if (hosted.engines().empty()) {
      return absl::FailedPreconditionError("the server hosts no engines");
    }
    return std::vector<v1::EngineInfo>(hosted.engines().begin(),
                                       hosted.engines().end());
  }
  std::vector<v1::EngineInfo> selected;
  const bool builtin_hosted = std::any_of(
      hosted.engines().begin(), hosted.engines().end(),
      [](const v1::EngineInfo& e) { return e.name() == "builtin"; });
  if (names.size() == 1 && names[0] == "builtin" && !builtin_hosted) {
    for (const v1::EngineInfo& info : hosted.engines()) {
      if (info.checkpoint().empty()) selected.push_back(info);
    }
    if (selected.empty()) {
      return absl::FailedPreconditionError(
          "--engines=builtin: the server hosts no built-in engine");
    }
    return selected;
  }
  for (const std::string& name : names) {
    const v1::EngineInfo* found = nullptr;
    for (const v1::EngineInfo& info : hosted.engines()) {
      if (info.name() == name) found = &info;
    }
    if (found == nullptr) {
      std::vector<std::string> known;
      for (const v1::EngineInfo& info : hosted.engines()) {
        known.push_back(info.name());
      }
      return absl::InvalidArgumentError(
          absl::StrCat("--engines: the server hosts no engine '", name,
                       "' (hosted: ", absl::StrJoin(known, ", "), ")"));
    }
    selected.push_back(*found);
  }
  return selected;
}

absl::StatusOr<std::vector<v1::EngineInfo>> ListSelectedEngines(
    v1::Trilemma::StubInterface& stub, const std::string& target,
    const std::vector<std::string>& names) {
  absl::StatusOr<v1::ListEnginesResponse> hosted = ListEngines(stub, target);
  if (!hosted.ok()) return hosted.status();
  return SelectEngines(*hosted, names);
}

}  // namespace trilemma::client
