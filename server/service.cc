#include "server/service.h"

#include "server/generate_reactor.h"
#include "server/grpc_status.h"
#include "server/session_reactor.h"

namespace trilemma {

TrilemmaService::TrilemmaService(const EngineHost* host, ServiceOptions options)
    : host_(host), options_(options) {}

grpc::ServerUnaryReactor* TrilemmaService::ListEngines(
    grpc::CallbackServerContext* context,
    const v1::ListEnginesRequest* /*request*/,
    v1::ListEnginesResponse* response) {
  for (const auto& hosted : host_->engines()) {
    *response->add_engines() = hosted->engine->info();
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateEvent>* TrilemmaService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return new GenerateReactor(*request, *host_, options_.stream_queue_events,
                             DeadlineFromGrpc(context->deadline()));
}

grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>*
TrilemmaService::Session(grpc::CallbackServerContext* context) {
  return new SessionReactor(*host_, options_.stream_queue_events,
                            DeadlineFromGrpc(context->deadline()));
}

}  // namespace trilemma
