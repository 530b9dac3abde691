// The /metrics HTTP(S) endpoint: serves a prometheus::Registry in the text
// exposition format with cpp-httplib (docs/security.md, "/metrics").
//
// Example:
//   absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
//       MetricsExposer::Start("127.0.0.1:9464", metrics.registry());
//   // curl http://127.0.0.1:9464/metrics
//
// Not civetweb (prometheus-cpp's own exposer): Debian 12's civetweb loads
// OpenSSL at run time and looks up SSL_get_peer_certificate, which OpenSSL 3
// no longer exports, so its every TLS connection calls a null pointer.
//
// Thread-safety: scrapes run on the exposer's own worker threads; Start and
// the destructor are called by the owner.
#ifndef TRILEMMA_SERVER_METRICS_EXPOSER_H_
#define TRILEMMA_SERVER_METRICS_EXPOSER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "server/auth.h"
#include "server/metrics_tls.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace trilemma {

class MetricsExposer {
 public:
  // Binds `address` ("host:port" or "[v6]:port"; port 0 picks a free one)
  // and serves GET /metrics with `threads` workers. A connection that sends
  // no complete request within `request_timeout` (also the keep-alive idle
  // limit, rounded up to whole seconds) is closed, so idle or slow clients
  // hold a worker for at most that long and cannot stall scrapes.
  // With `tls.cert_file`/`tls.key_file` it serves HTTPS only, asking for a
  // client certificate signed by `tls.client_ca_file` when set; the files
  // are watched (MetricsTls).
  // Errors: UNAVAILABLE naming the address when it cannot bind;
  // INVALID_ARGUMENT naming a metrics_tls_* flag and file that is unreadable
  // or malformed, or an address that is not host:port.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address,
      const std::shared_ptr<prometheus::Registry>& registry, int threads = 16,
      absl::Duration request_timeout = absl::Seconds(2),
      const TlsOptions& tls = {});

  // Stops accepting, finishes in-flight scrapes and joins the workers.
  ~MetricsExposer();

  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // The bound port.
  int port() const { return port_; }

 private:
  MetricsExposer(std::unique_ptr<MetricsTls> tls,
                 std::unique_ptr<httplib::Server> http, int port);

  // Declared first: the server's SSL context refers to it until destroyed.
  std::unique_ptr<MetricsTls> tls_;
  std::unique_ptr<httplib::Server> http_;
  int port_;
  std::thread listener_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_METRICS_EXPOSER_H_
