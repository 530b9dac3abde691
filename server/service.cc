#include "server/service.h"

#include <algorithm>
#include <utility>

#include "server/auth.h"
#include "server/generate_reactor.h"
#include "server/grpc_status.h"
#include "server/session_reactor.h"

namespace trilemma {
namespace {

// A call refused before it starts (a per-client quota): finishes with
// `status` at once. Deletes itself in OnDone.
template <typename Reactor>
class RefusedReactor final : public Reactor {
 public:
  explicit RefusedReactor(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

TrilemmaService::TrilemmaService(const EngineHost* host, ServiceOptions options)
    : host_(host), options_(options) {}

grpc::ServerUnaryReactor* TrilemmaService::ListEngines(
    grpc::CallbackServerContext* context,
    const v1::ListEnginesRequest* /*request*/,
    v1::ListEnginesResponse* response) {
  for (const auto& hosted : host_->engines()) {
    *response->add_engines() = PublicEngineInfo(*hosted->engine);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateEvent>* TrilemmaService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  CallQuota quota;
  if (options_.quotas != nullptr && options_.quotas->enabled()) {
    absl::StatusOr<CallQuota> call =
        options_.quotas->StartCall(ClientKey(*context), /*session=*/false);
    absl::Status status = call.status();
    if (status.ok()) {
      // Text is charged by its bytes: never fewer than its tokens.
      status = call->ChargeTokens(request->prompt_size() +
                                  static_cast<int64_t>(request->text().size()) +
                                  std::max(1, request->max_new_tokens()));
    }
    if (!status.ok()) {
      return new RefusedReactor<grpc::ServerWriteReactor<v1::GenerateEvent>>(
          status);
    }
    quota = *std::move(call);
  }
  return new GenerateReactor(*request, *host_, options_.stream_queue_events,
                             DeadlineFromGrpc(context->deadline()),
                             std::move(quota));
}

grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>*
TrilemmaService::Session(grpc::CallbackServerContext* context) {
  CallQuota quota;
  if (options_.quotas != nullptr && options_.quotas->enabled()) {
    absl::StatusOr<CallQuota> call =
        options_.quotas->StartCall(ClientKey(*context), /*session=*/true);
    if (!call.ok()) {
      return new RefusedReactor<
          grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>>(
          call.status());
    }
    quota = *std::move(call);
  }
  return new SessionReactor(*host_, options_.stream_queue_events,
                            DeadlineFromGrpc(context->deadline()),
                            std::move(quota));
}

}  // namespace trilemma
