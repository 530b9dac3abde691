#include "server/server.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace trilemma {
namespace {

// "host" of "host:port" (brackets of an IPv6 host kept).
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrilemmaServer>> TrilemmaServer::Start(
    const std::vector<EngineSpec>& specs, const ServerOptions& options) {
  std::unique_ptr<TrilemmaServer> server(new TrilemmaServer());
  server->metrics_ = std::make_unique<ServerMetrics>();
  absl::StatusOr<std::unique_ptr<EngineHost>> host =
      EngineHost::Create(specs, server->metrics_.get(), options.scheduler);
  if (!host.ok()) return host.status();
  server->host_ = *std::move(host);
  server->service_ =
      std::make_unique<TrilemmaService>(server->host_.get(), options.service);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  if (options.max_message_bytes > 0) {
    builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot serve gRPC on '", options.listen, "'"));
  }
  server->address_ = absl::StrCat(HostOf(options.listen), ":", server->port_);
  if (grpc::HealthCheckServiceInterface* health =
          server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus(v1::Trilemma::service_full_name(), true);
  }

  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
        MetricsExposer::Start(options.metrics_listen,
                              server->metrics_->registry());
    if (!exposer.ok()) return exposer.status();
    server->exposer_ = *std::move(exposer);
    server->metrics_address_ = absl::StrCat(HostOf(options.metrics_listen), ":",
                                            server->exposer_->port());
  }
  return server;
}

TrilemmaServer::~TrilemmaServer() {
  if (!shut_down_ && server_ != nullptr) Shutdown(absl::ZeroDuration());
}

int TrilemmaServer::metrics_port() const {
  return exposer_ == nullptr ? 0 : exposer_->port();
}

std::string TrilemmaServer::ReadyLine() const {
  return absl::StrCat("trilemma-server ready: grpc=", address_, " metrics=",
                      metrics_address_.empty() ? "off" : metrics_address_,
                      " engines=", host_->NameList());
}

void TrilemmaServer::Shutdown(absl::Duration deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  host_->BeginDrain();
  const absl::Time cut_at = absl::Now() + deadline;
  // gRPC stops accepting calls at once and waits for those in flight; they
  // end by themselves or are cut below, so the grace only covers flushing.
  std::thread grpc_shutdown([this, cut_at] {
    server_->Shutdown(absl::ToChronoTime(cut_at + absl::Seconds(5)));
  });
  while (!host_->Idle() && absl::Now() < cut_at) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  host_->Stop();
  grpc_shutdown.join();
  exposer_.reset();
}

}  // namespace trilemma
