#include "server/server.h"

#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace trilemma {
namespace {

// What changes when a file is rewritten or replaced; empty when missing.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

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
  // Every reason exported from the start (at 0), with or without tokens.
  for (size_t i = 0; i < static_cast<size_t>(AuthFailure::kCount); ++i) {
    server->metrics_->auth_failures().Add(
        {{"reason",
          std::string{AuthFailureName(static_cast<AuthFailure>(i))}}});
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  if (!options.auth_tokens_file.empty()) {
    if (options.tls.cert_file.empty()) {
      return absl::InvalidArgumentError(
          "auth_tokens_file: needs tls_cert_file and tls_key_file (bearer "
          "tokens must not cross the network in plaintext)");
    }
    absl::StatusOr<TokenTable> tokens =
        TokenTable::Load(options.auth_tokens_file);
    if (!tokens.ok()) return tokens.status();
    server->auth_tokens_file_ = options.auth_tokens_file;
    server->auth_tokens_stamp_ = FileStamp(options.auth_tokens_file);
    server->auth_ = std::make_shared<TokenAuthProcessor>(
        *std::move(tokens), options.health_without_token,
        &server->metrics_->auth_failures());
    (*credentials)->SetAuthMetadataProcessor(server->auth_);
  }
  server->quotas_ = std::make_unique<ClientQuotas>(
      options.quotas, &server->metrics_->quota_rejections());
  ServiceOptions service_options = options.service;
  service_options.quotas = server->quotas_.get();
  server->service_ =
      std::make_unique<TrilemmaService>(server->host_.get(), service_options);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (options.max_streams_per_connection > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               options.max_streams_per_connection);
  }
  if (options.max_connection_idle != absl::InfiniteDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_IDLE_MS,
        static_cast<int>(std::clamp<int64_t>(
            absl::ToInt64Milliseconds(options.max_connection_idle), 1,
            std::numeric_limits<int>::max())));
  }
  builder.AddListeningPort(options.listen, *credentials, &server->port_);
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
        MetricsExposer::Start(
            options.metrics_listen, server->metrics_->registry(),
            options.metrics_threads, options.metrics_request_timeout,
            options.metrics_tls);
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

absl::Status TrilemmaServer::ReloadAuthTokens() {
  if (auth_ == nullptr) return absl::OkStatus();
  auth_tokens_stamp_ = FileStamp(auth_tokens_file_);
  absl::StatusOr<TokenTable> tokens = TokenTable::Load(auth_tokens_file_);
  if (!tokens.ok()) return tokens.status();
  auth_->Reload(*std::move(tokens));
  return absl::OkStatus();
}

absl::StatusOr<bool> TrilemmaServer::ReloadAuthTokensIfChanged() {
  if (auth_ == nullptr || FileStamp(auth_tokens_file_) == auth_tokens_stamp_) {
    return false;
  }
  if (absl::Status s = ReloadAuthTokens(); !s.ok()) return s;
  return true;
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
