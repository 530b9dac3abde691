// TLS, mutual TLS, token authentication and certificate reload of a real
// in-process server on loopback, with a PKI made by openssl at test time.
#include <unistd.h>

#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_util.h"

namespace trilemma::testing {
namespace {

// The `null` engine (no state, vocab 8192) with a 1 MiB budget.
EngineSpec NullSpec() {
  return {.name = "null",
          .family = "null",
          .knobs = {},
          .state_budget_bytes = 1 << 20};
}

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kBobToken[] = "bob-token-0123456789abcdef01";

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = MakeTestPki(MakeTempDir("trilemma_pki_"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
    WriteText(pki_->dir + "/tokens.txt",
              absl::StrCat("# test clients\nalice ", kAliceToken, "\n\nbob ",
                           kBobToken, "\n"));
  }

  static ServerOptions TlsOptions() {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.tls = {.cert_file = pki_->server_cert,
                   .key_file = pki_->server_key,
                   .client_ca_file = ""};
    return options;
  }

  static std::unique_ptr<TrilemmaServer> Start(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        TrilemmaServer::Start({NullSpec()}, options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  static std::shared_ptr<grpc::Channel> Channel(
      const TrilemmaServer& server, const std::string& ca_file,
      const std::string& cert_file = "", const std::string& key_file = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadText(ca_file);
    if (!cert_file.empty()) {
      ssl.pem_cert_chain = ReadText(cert_file);
      ssl.pem_private_key = ReadText(key_file);
    }
    // A fresh connection per channel, so tests do not share one.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server.address(),
                                     grpc::SslCredentials(ssl), args);
  }

  // ListEngines with "authorization: <header>" unless empty.
  static grpc::Status ListEngines(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& header = "") {
    auto stub = v1::Trilemma::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(&context);
    if (!header.empty()) context.AddMetadata("authorization", header);
    v1::ListEnginesResponse response;
    return stub->ListEngines(&context, {}, &response);
  }

  static grpc::Status Health(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, {}, &response);
  }

  // One reflection request (list services) as a unary call on the
  // streaming method.
  static grpc::Status Reflection(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& header = "") {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    SetDeadline(&context);
    if (!header.empty()) context.AddMetadata("authorization", header);
    const char list_services[] = {0x3a, 0x00};  // field 7, ""
    grpc::Slice slice(list_services, sizeof(list_services));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(
        &context,
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", {},
        &request, &response, [&done](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  }

  static std::string Metrics(const TrilemmaServer& server) {
    absl::StatusOr<std::string> text =
        HttpGet(server.metrics_port(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }

  static std::string Bearer(const std::string& token) {
    return "Bearer " + token;
  }

  static TestPki* pki_;
};

TestPki* SecurityTest::pki_ = nullptr;

TEST_F(SecurityTest, TlsServesAClientTrustingItsCa) {
  auto server = Start(TlsOptions());
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(ListEngines(Channel(*server, pki_->ca_cert)).ok());
}

TEST_F(SecurityTest, TlsRefusesAPlaintextClient) {
  auto server = Start(TlsOptions());
  ASSERT_NE(server, nullptr);
  const grpc::Status status = ListEngines(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(SecurityTest, TlsRefusesAClientTrustingAnotherCa) {
  auto server = Start(TlsOptions());
  ASSERT_NE(server, nullptr);
  const grpc::Status status =
      ListEngines(Channel(*server, pki_->other_ca_cert));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(SecurityTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  ServerOptions options = TlsOptions();
  options.tls.client_ca_file = pki_->ca_cert;
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(ListEngines(Channel(*server, pki_->ca_cert)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(ListEngines(Channel(*server, pki_->ca_cert, pki_->client_cert,
                                  pki_->client_key))
                  .ok());
  // A certificate the client CA did not sign (the server's own key pair is
  // signed by the same CA, so use a self-signed CA certificate instead).
  EXPECT_EQ(ListEngines(Channel(*server, pki_->ca_cert, pki_->other_ca_cert,
                                pki_->dir + "/other_ca.key"))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, BadTlsFilesAreRefusedAtStartNamingTheFlag) {
  ServerOptions options = TlsOptions();
  options.tls.cert_file = pki_->dir + "/missing.pem";
  auto missing = TrilemmaServer::Start({NullSpec()}, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("tls_cert_file"));

  options = TlsOptions();
  options.tls.key_file = pki_->client_key;  // another certificate's key
  auto mismatch = TrilemmaServer::Start({NullSpec()}, options);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not match"));

  options = TlsOptions();
  options.tls.cert_file = pki_->server_key;  // a key where a cert belongs
  auto not_cert = TrilemmaServer::Start({NullSpec()}, options);
  ASSERT_FALSE(not_cert.ok());
  EXPECT_THAT(not_cert.status().message(), HasSubstr("no PEM certificate"));
}

TEST_F(SecurityTest, TokensNeedTls) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.auth_tokens_file = pki_->dir + "/tokens.txt";
  auto server = TrilemmaServer::Start({NullSpec()}, options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("auth_tokens_file"));
}

TEST_F(SecurityTest, EveryRpcButHealthNeedsAValidToken) {
  ServerOptions options = TlsOptions();
  options.auth_tokens_file = pki_->dir + "/tokens.txt";
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  auto channel = Channel(*server, pki_->ca_cert);

  EXPECT_TRUE(ListEngines(channel, Bearer(kAliceToken)).ok());
  EXPECT_TRUE(Reflection(channel, Bearer(kAliceToken)).ok());
  EXPECT_TRUE(Health(channel).ok());

  // Each on a fresh connection: one bound to alice refuses bob (below).
  struct Case {
    std::string header;
    std::string reason;
  };
  for (const Case& c :
       {Case{"", "missing"}, Case{"Basic YWxpY2U6c2VjcmV0", "malformed"},
        Case{Bearer("not-a-token-of-anyone-here"), "invalid"},
        Case{Bearer("short"), "invalid"}}) {
    auto fresh = Channel(*server, pki_->ca_cert);
    const grpc::Status list = ListEngines(fresh, c.header);
    EXPECT_EQ(list.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << c.reason << ": " << list.error_message();
    EXPECT_EQ(Reflection(fresh, c.header).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << c.reason;
    auto stub = v1::Trilemma::NewStub(fresh);
    grpc::ClientContext context;
    SetDeadline(&context);
    if (!c.header.empty()) context.AddMetadata("authorization", c.header);
    auto reader = stub->Generate(&context, MakeGenerate("null", {1, 2}, 2));
    v1::GenerateEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext session_context;
    SetDeadline(&session_context);
    if (!c.header.empty()) {
      session_context.AddMetadata("authorization", c.header);
    }
    auto session = stub->Session(&session_context);
    v1::SessionEvent session_event;
    EXPECT_FALSE(session->Read(&session_event));
    EXPECT_EQ(session->Finish().error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // Bound to alice by its first call, a connection refuses bob's token.
  EXPECT_EQ(ListEngines(channel, Bearer(kBobToken)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(
      ListEngines(Channel(*server, pki_->ca_cert), Bearer(kBobToken)).ok());

  const std::string text = Metrics(*server);
  const std::map<std::string, double> m = ParseMetrics(text);
  EXPECT_EQ(m.at("trilemma_auth_failures_total{reason=\"missing\"}"), 4);
  EXPECT_EQ(m.at("trilemma_auth_failures_total{reason=\"malformed\"}"), 4);
  EXPECT_EQ(m.at("trilemma_auth_failures_total{reason=\"invalid\"}"), 8);
  EXPECT_EQ(m.at("trilemma_auth_failures_total{reason=\"mismatch\"}"), 1);
  EXPECT_THAT(text, Not(HasSubstr(kAliceToken)));
  EXPECT_THAT(text, Not(HasSubstr(kBobToken)));
  EXPECT_THAT(text, Not(HasSubstr("alice")));
}

TEST_F(SecurityTest, HealthNeedsATokenWhenConfigured) {
  ServerOptions options = TlsOptions();
  options.auth_tokens_file = pki_->dir + "/tokens.txt";
  options.health_without_token = false;
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Health(Channel(*server, pki_->ca_cert)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, ReloadedTokensReplaceTheOldOnes) {
  const std::string path = pki_->dir + "/reload_tokens.txt";
  WriteText(path, absl::StrCat("alice ", kAliceToken, "\n"));
  ServerOptions options = TlsOptions();
  options.auth_tokens_file = path;
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(ListEngines(Channel(*server, pki_->ca_cert), Bearer(kBobToken))
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  WriteText(path, absl::StrCat("bob ", kBobToken, "\n"));
  ASSERT_TRUE(server->ReloadAuthTokens().ok());
  EXPECT_TRUE(
      ListEngines(Channel(*server, pki_->ca_cert), Bearer(kBobToken)).ok());
  EXPECT_EQ(ListEngines(Channel(*server, pki_->ca_cert), Bearer(kAliceToken))
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A broken file keeps the tokens in force.
  WriteText(path, "bob\n");
  const absl::Status bad = server->ReloadAuthTokens();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("line 1"));
  EXPECT_TRUE(
      ListEngines(Channel(*server, pki_->ca_cert), Bearer(kBobToken)).ok());
}

TEST_F(SecurityTest, ReplacedCertificatesServeNewHandshakesOpenStreamsStay) {
  // The server's files live in their own directory so they can be swapped.
  const std::string dir = MakeTempDir("trilemma_reload_");
  ASSERT_FALSE(dir.empty());
  WriteText(dir + "/server.pem", ReadText(pki_->server_cert));
  WriteText(dir + "/server.key", ReadText(pki_->server_key));
  ServerOptions options = TlsOptions();
  options.tls = {.cert_file = dir + "/server.pem",
                 .key_file = dir + "/server.key",
                 .client_ca_file = "",
                 .reload_interval = absl::Seconds(1)};
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  auto old_channel = Channel(*server, pki_->ca_cert);
  auto stub = v1::Trilemma::NewStub(old_channel);
  SessionClient session(*stub);
  ASSERT_TRUE(session.Open("null"));

  absl::StatusOr<TestPki> renewed = MakeTestPki(dir + "/renewed");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  // Key first, then certificate, each by rename: the watcher reads both.
  ASSERT_EQ(rename(renewed->server_key.c_str(), (dir + "/server.key").c_str()),
            0);
  ASSERT_EQ(rename(renewed->server_cert.c_str(), (dir + "/server.pem").c_str()),
            0);
  EXPECT_TRUE(PollUntil(
      [&] { return ListEngines(Channel(*server, renewed->ca_cert)).ok(); }));
  EXPECT_EQ(ListEngines(Channel(*server, pki_->ca_cert)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // The stream opened before the swap goes on.
  std::optional<v1::Summary> appended = session.Append({1, 2, 3});
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->prompt_tokens(), 3);
  EXPECT_TRUE(session.Close().ok());
}

}  // namespace
}  // namespace trilemma::testing
