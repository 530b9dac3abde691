// HttpServer: the OpenAI-compatible HTTP endpoint (`--http_listen`), served
// by the same process, engines and schedulers as the gRPC API, so it shares
// their limits, budgets and metrics (docs/http.md).
//
//   GET  /v1/models        the hosted engines
//   POST /v1/completions   OpenAI's legacy completions: prompt as text or
//                          token IDs, streamed as Server-Sent Events or not
//
// cpp-httplib (Debian's libcpp-httplib) serves each connection on a worker
// of a fixed pool; a completion's worker waits for its events in a
// BlockingEventQueue. Bounds: `threads` workers, the body size, the
// library's 8 KiB header lines, read/write timeouts and keep-alive. With
// `tls_cert_file`/`tls_key_file` it serves HTTPS (the files are watched: a
// renewed pair serves new connections without a restart); with
// `auth_tokens_file` every request needs "Authorization: Bearer <token>" from
// that file.
//
// Example:
//   auto http = HttpServer::Start({.listen = "127.0.0.1:8000"}, &host,
//                                 metrics.registry().get());
//   ... on SIGTERM: (*http)->BeginDrain(); host.BeginDrain(); ...
//   (*http)->Stop();
//
// Thread-safe. `host` and `registry` must outlive the server.
#ifndef TRILEMMA_SERVER_HTTP_HTTP_SERVER_H_
#define TRILEMMA_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"
#include "server/auth.h"
#include "server/engine_host.h"
#include "server/metrics_tls.h"
#include "server/quota.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace trilemma {

struct HttpServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen = "127.0.0.1:8000";
  // Worker threads: connections served at once (a streamed completion
  // holds one for its life).
  int threads = 32;
  // Largest request body; larger ones get 413.
  size_t max_body_bytes = size_t{8} << 20;
  // A request must arrive within read_timeout; a write may stall that long
  // at most; idle keep-alive connections close after keep_alive.
  absl::Duration read_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  absl::Duration keep_alive = absl::Seconds(5);
  // Events one completion may queue unsent before its session pauses.
  size_t stream_queue_events = 32;
  // HTTPS with both files (PEM); plain HTTP with neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // "client_name token" lines (server/auth.h); empty: no authentication.
  std::string auth_tokens_file;
  // Per-client quotas shared with the gRPC port (one client using both
  // protocols holds one quota); null: none. Must outlive the server.
  ClientQuotas* quotas = nullptr;
};

class HttpServer {
 public:
  // Binds and starts serving. UNAVAILABLE naming `listen` when it cannot
  // bind; INVALID_ARGUMENT naming a bad option or TLS/token file.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, EngineHost* host,
      prometheus::Registry* registry);
  // Stop()s.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "host:port" bound.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  bool tls() const { return tls_; }

  // Re-reads the token file; on error the old tokens stay.
  absl::Status ReloadAuthTokens();
  // New completions get 503 from now on; running ones go on.
  void BeginDrain();
  // Stops listening, ends open connections and joins the workers.
  void Stop();

 private:
  HttpServer() = default;

  void Route();
  // False (with `res` filled with 401) when auth is on and the request has
  // no valid bearer token.
  bool Authorize(const httplib::Request& req, httplib::Response& res);
  // Whom a request is accounted to, as gRPC's ClientKey: the bearer
  // token's client name, else the peer address ("ipv4:10.0.0.7").
  std::string ClientOf(const httplib::Request& req);
  void HandleModels(httplib::Response& res) const;
  void HandleCompletions(const httplib::Request& req, httplib::Response& res);
  // Counts a reply on trilemma_http_requests_total.
  void Count(const std::string& endpoint, int status);

  HttpServerOptions options_;
  EngineHost* host_ = nullptr;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* auth_failures_ = nullptr;
  // The HTTPS certificate, watched on disk; outlives server_'s contexts.
  std::unique_ptr<MetricsTls> certificate_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
  absl::Mutex mu_;
  std::shared_ptr<const TokenTable> tokens_ ABSL_GUARDED_BY(mu_);
  bool stopped_ = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_HTTP_HTTP_SERVER_H_
