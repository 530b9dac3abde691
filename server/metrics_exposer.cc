#include "server/metrics_exposer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "prometheus/text_serializer.h"

namespace trilemma {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port" or "[v6]:port"; the brackets are dropped.
absl::StatusOr<HostPort> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  HostPort parsed;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &parsed.port) ||
      parsed.port < 0 || parsed.port > 65535 || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics_listen: '", address, "' is not host:port (port 0-65535)"));
  }
  parsed.host = address.substr(0, colon);
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' &&
      parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  }
  return parsed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    const std::shared_ptr<prometheus::Registry>& registry, int threads,
    absl::Duration request_timeout, const TlsOptions& tls_files) {
  absl::StatusOr<HostPort> where = ParseAddress(address);
  if (!where.ok()) return where.status();

  std::unique_ptr<MetricsTls> tls;
  std::unique_ptr<httplib::Server> http;
  if (!tls_files.cert_file.empty() || !tls_files.key_file.empty() ||
      !tls_files.client_ca_file.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsTls>> loaded =
        MetricsTls::Load(tls_files);
    if (!loaded.ok()) return loaded.status();
    tls = *std::move(loaded);
    MetricsTls* installed = tls.get();
    auto https =
        std::make_unique<httplib::SSLServer>([installed](SSL_CTX& ctx) {
          installed->Install(&ctx);
          return true;
        });
    if (!https->is_valid()) {
      return absl::InternalError("metrics_tls: cannot create a TLS context");
    }
    http = std::move(https);
  } else {
    http = std::make_unique<httplib::Server>();
  }

  const int workers = std::max(1, threads);
  http->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  const double timeout_s =
      std::max(0.001, absl::ToDoubleSeconds(request_timeout));
  const auto timeout_us = static_cast<time_t>(timeout_s * 1e6);
  http->set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
  http->set_write_timeout(timeout_us / 1000000, timeout_us % 1000000);
  // Also bounds the wait for a connection's first request.
  http->set_keep_alive_timeout(
      std::max<time_t>(1, static_cast<time_t>(std::ceil(timeout_s))));
  http->set_payload_max_length(1 << 16);  // scrapes are GETs
  std::weak_ptr<prometheus::Registry> weak = registry;
  http->Get("/metrics", [weak](const httplib::Request& /*request*/,
                               httplib::Response& response) {
    std::shared_ptr<prometheus::Registry> live = weak.lock();
    if (live == nullptr) {
      response.status = 503;
      return;
    }
    response.set_content(
        prometheus::TextSerializer().Serialize(live->Collect()),
        "text/plain; version=0.0.4; charset=utf-8");
  });

  int port = where->port;
  if (port == 0) {
    port = http->bind_to_any_port(where->host);
  } else if (!http->bind_to_port(where->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "metrics_listen: cannot serve metrics on '", address, "'"));
  }
  return std::unique_ptr<MetricsExposer>(
      new MetricsExposer(std::move(tls), std::move(http), port));
}

MetricsExposer::MetricsExposer(std::unique_ptr<MetricsTls> tls,
                               std::unique_ptr<httplib::Server> http, int port)
    : tls_(std::move(tls)), http_(std::move(http)), port_(port) {
  listener_ =
      std::thread([server = http_.get()] { server->listen_after_bind(); });
  // stop() is a no-op until the listener runs: wait, so that a destructor
  // right after Start cannot miss it and hang in join().
  while (!http_->is_running()) std::this_thread::yield();
}

MetricsExposer::~MetricsExposer() {
  http_->stop();
  listener_.join();
}

}  // namespace trilemma
