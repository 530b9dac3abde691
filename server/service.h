// TrilemmaService: the trilemma.v1.Trilemma gRPC service on the callback API.
//
// ListEngines answers inline from the hosted engines' EngineInfo; Generate
// and Session each get a small reactor (GenerateReactor, SessionReactor) that
// validates, hands work to the engine's scheduler and streams back what the
// scheduler pushes, one write in flight. No handler blocks.
//
// Example:
//   TrilemmaService service(host.get(), {.stream_queue_events = 32});
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&service);
//
// Thread-safe; `host` must outlive the service and every call.
#ifndef TRILEMMA_SERVER_SERVICE_H_
#define TRILEMMA_SERVER_SERVICE_H_

#include <cstddef>

#include "grpcpp/grpcpp.h"
#include "server/engine_host.h"
#include "server/quota.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma {

struct ServiceOptions {
  // Events a stream may queue before its session is left out of steps.
  size_t stream_queue_events = 32;
  // Per-client quotas; null: none. Must outlive the service and its calls.
  ClientQuotas* quotas = nullptr;
};

class TrilemmaService final : public v1::Trilemma::CallbackService {
 public:
  TrilemmaService(const EngineHost* host, ServiceOptions options);

  grpc::ServerUnaryReactor* ListEngines(
      grpc::CallbackServerContext* context,
      const v1::ListEnginesRequest* request,
      v1::ListEnginesResponse* response) override;

  grpc::ServerWriteReactor<v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;

  grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionEvent>* Session(
      grpc::CallbackServerContext* context) override;

 private:
  const EngineHost* const host_;
  const ServiceOptions options_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SERVICE_H_
