// The HTTP endpoint beside a real TrilemmaServer (gRPC, /metrics, quotas):
// per-client quotas shared by both protocols (429 naming the quota, with
// Retry-After for tokens per second), HTTPS certificates reloaded from disk,
// a non-streamed request whose client goes away, and the `protocol` label
// of trilemma_requests_total — all checked on /metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/http/http_server.h"
#include "server/server.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class HttpLimitsTest : public ::testing::Test {
 protected:
  void Start(QuotaOptions quotas, HttpServerOptions http = {}) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.quotas = quotas;
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        TrilemmaServer::Start({testing::SmallSpec("attention", "attention")},
                              options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    http.listen = "127.0.0.1:0";
    http.quotas = server_->quotas();
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        http, &server_->host(), server_->metrics().registry().get());
    ASSERT_TRUE(started.ok()) << started.status();
    http_ = *std::move(started);
  }

  void TearDown() override {
    if (http_ != nullptr) http_->Stop();
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  }

  httplib::Result Post(const json& body) {
    httplib::Client client("127.0.0.1", http_->port());
    client.set_read_timeout(60);
    return client.Post("/v1/completions", body.dump(), "application/json");
  }

  // One sample of /metrics; -1 when absent.
  double Metric(const std::string& series) {
    absl::StatusOr<std::string> text =
        testing::HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    const std::map<std::string, double> samples =
        testing::ParseMetrics(text.ok() ? *text : "");
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }

  // Polls /metrics until `series` has `value` (at most testing::kWait).
  bool WaitForMetric(const std::string& series, double value) {
    const absl::Time give_up = absl::Now() + testing::kWait;
    while (Metric(series) != value && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return Metric(series) == value;
  }

  std::unique_ptr<TrilemmaServer> server_;
  std::unique_ptr<HttpServer> http_;
};

constexpr char kActive[] = "trilemma_active_sessions{engine=\"attention\"}";

std::string Requests(const std::string& outcome, const std::string& protocol) {
  return absl::StrCat("trilemma_requests_total{engine=\"attention\",outcome=\"",
                      outcome, "\",protocol=\"", protocol, "\"}");
}

TEST_F(HttpLimitsTest, RequestsAreCountedByProtocol) {
  Start({});
  auto stub = testing::Connect(*server_);
  testing::GenerateResult g =
      testing::RunGenerate(*stub, testing::MakeGenerate("attention", {1}, 2));
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  httplib::Result h =
      Post({{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 2}});
  ASSERT_TRUE(h);
  ASSERT_EQ(h->status, 200) << h->body;
  httplib::Result h2 =
      Post({{"model", "attention"}, {"prompt", {2}}, {"max_tokens", 2}});
  ASSERT_TRUE(h2);
  EXPECT_EQ(Metric(Requests("length", "grpc")), 1);
  EXPECT_EQ(Metric(Requests("length", "http")), 2);
}

TEST_F(HttpLimitsTest, StreamQuotaIsSharedWithGrpcAndNamedIn429) {
  Start({.max_streams = 1});
  // A gRPC stream from 127.0.0.1 holds the client's only stream (it is not
  // read, so backpressure keeps it open).
  auto stub = testing::Connect(*server_);
  grpc::ClientContext held;
  testing::SetDeadline(&held);
  auto stream = stub->Generate(
      &held, testing::MakeGenerate("attention", {1, 2, 3}, 60000));
  v1::GenerateEvent first;
  ASSERT_TRUE(stream->Read(&first));

  httplib::Result refused =
      Post({{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 2}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429) << refused->body;
  const json error = json::parse(refused->body)["error"];
  EXPECT_EQ(error["code"], "max_streams_per_client");
  EXPECT_EQ(error["type"], "rate_limit_error");
  EXPECT_THAT(error["message"].get<std::string>(),
              HasSubstr("client 'ipv4:127.0.0.1' has 1 of 1"));
  EXPECT_FALSE(refused->has_header("Retry-After"));  // no time is known
  EXPECT_EQ(Metric("trilemma_quota_rejections_total{quota=\"max_streams_per_"
                   "client\"}"),
            1);

  held.TryCancel();
  while (stream->Read(&first)) {
  }
  stream->Finish().IgnoreError();
  // The stream's hold is released once gRPC has finished the call.
  const absl::Time give_up = absl::Now() + testing::kWait;
  int status = 0;
  while (status != 200 && absl::Now() < give_up) {
    httplib::Result r =
        Post({{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 2}});
    status = r ? r->status : 0;
    if (status != 200) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpLimitsTest, TokenBucketIsSharedWithGrpcAndAnswersRetryAfter) {
  // 100 tokens/s, a bucket of 100: a request of 1 + 400 tokens is admitted
  // (the bucket is above zero) and leaves ~300 tokens of debt.
  Start({.tokens_per_second = 100, .token_burst = 100});
  httplib::Result first =
      Post({{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 400}});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;

  httplib::Result refused =
      Post({{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 1}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429) << refused->body;
  EXPECT_EQ(json::parse(refused->body)["error"]["code"],
            "tokens_per_second_per_client");
  int retry_after = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(refused->get_header_value("Retry-After"), &retry_after))
      << refused->get_header_value("Retry-After");
  // ~300 tokens of debt at 100/s (less what refilled while the first
  // request ran): whole seconds, at most 4.
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 4);

  // The same client over gRPC meets the same empty bucket.
  auto stub = testing::Connect(*server_);
  testing::GenerateResult g =
      testing::RunGenerate(*stub, testing::MakeGenerate("attention", {1}, 1));
  EXPECT_EQ(g.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(g.status.error_message(),
              HasSubstr("tokens_per_second_per_client"));
}

TEST_F(HttpLimitsTest, NonStreamedRequestWhoseClientLeavesIsCancelled) {
  Start({});
  // A raw socket sends a long non-streamed completion, then closes once the
  // engine runs it: nothing was written back yet.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(http_->port()));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string body = json{
      {"model", "attention"},
      {"prompt", {1, 2, 3}},
      {"max_tokens", 65536}}.dump();
  const std::string request = absl::StrCat(
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body);
  ASSERT_EQ(write(fd, request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(WaitForMetric(kActive, 1));
  close(fd);

  // The session is freed long before 65536 tokens, and counted cancelled
  // (the library's 499 never reaches anyone).
  EXPECT_TRUE(WaitForMetric(kActive, 0));
  EXPECT_TRUE(WaitForMetric(Requests("cancelled", "http"), 1));
  EXPECT_EQ(Metric("trilemma_state_bytes{engine=\"attention\",tier=\"model\"}"),
            0);
  EXPECT_LT(Metric("trilemma_generated_tokens_total{engine=\"attention\"}"),
            65536);
  EXPECT_EQ(Metric(Requests("length", "http")), 0);
}

// An HTTPS GET /v1/models on a fresh connection trusting `ca`; the HTTP
// status, or 0 when the handshake fails.
int HttpsModels(int port, const std::string& ca) {
  httplib::SSLClient tls("127.0.0.1", port);
  tls.set_ca_cert_path(ca.c_str());
  tls.enable_server_certificate_verification(true);
  httplib::Result r = tls.Get("/v1/models");
  return r ? r->status : 0;
}

TEST_F(HttpLimitsTest, ARenewedCertificateServesNewConnections) {
  namespace fs = std::filesystem;
  const std::string dir = testing::MakeTempDir("http_tls_reload");
  absl::StatusOr<testing::TestPki> first = testing::MakeTestPki(dir + "/a");
  absl::StatusOr<testing::TestPki> second = testing::MakeTestPki(dir + "/b");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  fs::copy_file(first->server_cert, dir + "/tls.crt");
  fs::copy_file(first->server_key, dir + "/tls.key");
  HttpServerOptions options;
  options.tls_cert_file = dir + "/tls.crt";
  options.tls_key_file = dir + "/tls.key";
  Start({}, options);
  ASSERT_TRUE(http_->tls());
  EXPECT_EQ(HttpsModels(http_->port(), first->ca_cert), 200);
  EXPECT_EQ(HttpsModels(http_->port(), second->ca_cert), 0);

  // A broken certificate on disk keeps the old pair serving.
  testing::WriteText(dir + "/broken.crt", "-----BEGIN CERTIFICATE-----\nxx\n");
  fs::rename(dir + "/broken.crt", dir + "/tls.crt");
  EXPECT_EQ(HttpsModels(http_->port(), first->ca_cert), 200);
  // So does a key that does not match the certificate.
  fs::copy_file(first->server_cert, dir + "/old.crt");
  fs::rename(dir + "/old.crt", dir + "/tls.crt");
  fs::copy_file(second->server_key, dir + "/other.key");
  fs::rename(dir + "/other.key", dir + "/tls.key");
  EXPECT_EQ(HttpsModels(http_->port(), first->ca_cert), 200);

  // The renewed pair serves the next connection, without a restart.
  fs::copy_file(second->server_cert, dir + "/new.crt");
  fs::rename(dir + "/new.crt", dir + "/tls.crt");
  EXPECT_EQ(HttpsModels(http_->port(), second->ca_cert), 200);
  EXPECT_EQ(HttpsModels(http_->port(), first->ca_cert), 0);
}

TEST_F(HttpLimitsTest, BadCertificateAtStartNamesTheFlag) {
  const std::string dir = testing::MakeTempDir("http_tls_bad");
  testing::WriteText(dir + "/garbage.pem", "not a certificate\n");
  HttpServerOptions options;
  options.tls_cert_file = dir + "/garbage.pem";
  options.tls_key_file = dir + "/garbage.pem";
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.metrics_listen = "";
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start({testing::SmallSpec("attention", "attention")},
                            server_options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      options, &server_->host(), server_->metrics().registry().get());
  ASSERT_FALSE(http.ok());
  EXPECT_EQ(http.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(http.status().message(), HasSubstr("tls_cert_file"));
  EXPECT_THAT(http.status().message(), HasSubstr("garbage.pem"));
}

}  // namespace
}  // namespace trilemma
