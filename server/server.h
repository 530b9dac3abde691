// TrilemmaServer: a running server — hosted engines with their schedulers,
// the gRPC service (plus health checking and reflection) and the /metrics
// exposer — and its graceful drain. main.cc and the end-to-end tests both
// build one.
//
// Example:
//   auto server = TrilemmaServer::Start(specs, {.listen = "127.0.0.1:0"});
//   std::cout << (*server)->ReadyLine() << "\n";
//   ... on SIGTERM:
//   (*server)->Shutdown(absl::Seconds(10));
//
// Thread-safe: accessors may be called from any thread; Shutdown once; the
// Reload* methods from one thread at a time.
#ifndef TRILEMMA_SERVER_SERVER_H_
#define TRILEMMA_SERVER_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engines/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/auth.h"
#include "server/engine_host.h"
#include "server/metrics.h"
#include "server/metrics_exposer.h"
#include "server/quota.h"
#include "server/scheduler.h"
#include "server/service.h"

namespace trilemma {

struct ServerOptions {
  // gRPC listen address; port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  // /metrics listen address; port 0 picks a free port; empty: no exposer.
  std::string metrics_listen = "127.0.0.1:9464";
  // /metrics workers and per-request timeout (MetricsExposer::Start).
  int metrics_threads = 16;
  absl::Duration metrics_request_timeout = absl::Seconds(2);
  // TLS of the /metrics port (HTTPS only when cert_file/key_file are set;
  // client certificates when client_ca_file is); watched per handshake.
  TlsOptions metrics_tls;
  // TLS of the gRPC port; plaintext without cert_file/key_file.
  TlsOptions tls;
  // "client_name token" lines; empty: no authentication. Requires TLS.
  std::string auth_tokens_file;
  // Health checks pass without a token (load balancers, kubelet probes).
  bool health_without_token = true;
  QuotaOptions quotas;
  // gRPC-wide caps; 0 / infinite keep gRPC's defaults. Streams per HTTP/2
  // connection (GRPC_ARG_MAX_CONCURRENT_STREAMS); idle connections closed
  // after max_connection_idle (GRPC_ARG_MAX_CONNECTION_IDLE_MS).
  int max_streams_per_connection = 0;
  absl::Duration max_connection_idle = absl::InfiniteDuration();
  SchedulerOptions scheduler;
  ServiceOptions service;
  // Largest request message gRPC accepts (RESOURCE_EXHAUSTED from gRPC
  // itself above it, documented in trilemma.proto); 0 keeps gRPC's 4 MiB.
  int max_message_bytes = 0;
};

// The request message cap that lets a prompt of `max_context_tokens` tokens
// through: 5 bytes per token (the longest varint of an id below 2^31) plus
// 64 KiB for the rest of the message.
inline int MessageBytesForContext(int64_t max_context_tokens) {
  const int64_t bytes = max_context_tokens * 5 + (int64_t{1} << 16);
  return bytes > int64_t{1} << 30 ? 1 << 30 : static_cast<int>(bytes);
}

// ServerOptions::max_message_bytes for the --max_message_bytes flag's value:
// below 0 it follows `max_context_tokens` (MessageBytesForContext; 0 there
// means no context cap, and the cap is then that of 2^20 tokens); 0 keeps
// gRPC's 4 MiB; larger values are capped at 1 GiB.
inline int ResolveMaxMessageBytes(int64_t flag, int64_t max_context_tokens) {
  if (flag >= 0) {
    return flag > int64_t{1} << 30 ? 1 << 30 : static_cast<int>(flag);
  }
  return MessageBytesForContext(max_context_tokens > 0 ? max_context_tokens
                                                       : int64_t{1} << 20);
}

class TrilemmaServer {
 public:
  // Creates the engines and starts serving. Errors: the engines' (bad
  // specs), UNAVAILABLE naming `listen` or `metrics_listen` when a port
  // cannot be bound; INVALID_ARGUMENT / NOT_FOUND naming a TLS or token
  // file that is unreadable or malformed.
  static absl::StatusOr<std::unique_ptr<TrilemmaServer>> Start(
      const std::vector<EngineSpec>& specs, const ServerOptions& options);

  // Shutdown(absl::ZeroDuration()) unless already shut down.
  ~TrilemmaServer();

  // Re-reads auth_tokens_file; on error the old tokens stay. A no-op
  // without one.
  absl::Status ReloadAuthTokens();
  // Reloads when the file's modification time, size or inode changed since
  // the last load (a Kubernetes Secret update swaps a symlink). True when
  // reloaded; false without auth or without change.
  absl::StatusOr<bool> ReloadAuthTokensIfChanged();

  // "host:port" actually bound.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // 0 without an exposer.
  int metrics_port() const;
  const std::string& metrics_address() const { return metrics_address_; }

  // One line for scripts to wait for: addresses and engine names.
  std::string ReadyLine() const;

  EngineHost& host() { return *host_; }
  ServerMetrics& metrics() { return *metrics_; }
  // The per-client quotas the gRPC calls are held to; the HTTP endpoint
  // shares them (docs/http.md).
  ClientQuotas* quotas() { return quotas_.get(); }

  // Graceful drain: health turns NOT_SERVING, new calls are refused
  // (UNAVAILABLE), waiting requests are refused and idle Session streams
  // closed; running turns may finish until `deadline` from now, then are cut
  // (a SHUTDOWN summary) and the server stops. Blocks until done.
  void Shutdown(absl::Duration deadline);

 private:
  TrilemmaServer() = default;

  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<EngineHost> host_;
  std::unique_ptr<ClientQuotas> quotas_;
  std::shared_ptr<TokenAuthProcessor> auth_;
  std::string auth_tokens_file_;
  std::string auth_tokens_stamp_;  // FileStamp at the last load
  std::unique_ptr<TrilemmaService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsExposer> exposer_;
  std::string address_;
  std::string metrics_address_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_SERVER_H_
