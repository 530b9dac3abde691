// Per-client quotas (streams, sessions, tokens per second) keyed by token
// client name or peer address, the token file parser, and a /metrics port
// that still answers while idle connections are held open.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "server/quota.h"
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

constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kBobToken[] = "bob-token-0123456789abcdef01";

TEST(TokenTableTest, ParsesNamesAndRefusesBadLinesWithoutEchoingTokens) {
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse(absl::StrCat("# comment\n\n  alice ", kAliceToken,
                                     "  \nbob\t", kBobToken, "\n"),
                        "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(table->Authenticate(kAliceToken), "alice");
  EXPECT_EQ(table->Authenticate(kBobToken), "bob");
  EXPECT_EQ(table->Authenticate("alice-token-0123456789abcdeX"), std::nullopt);
  EXPECT_EQ(table->Authenticate(""), std::nullopt);

  struct Bad {
    std::string text;
    std::string message;
  };
  for (const Bad& bad :
       {Bad{"alice\n", "line 1: expected 'client_name token'"},
        Bad{"a b c\n", "got 3 fields"},
        Bad{"al/ice secret-secret-secret\n", "client name"},
        Bad{"alice short\n", "token of client 'alice' must be 16"},
        Bad{absl::StrCat("a ", kAliceToken, "\na ", kBobToken),
            "line 2: client 'a' listed twice"},
        Bad{absl::StrCat("a ", kAliceToken, "\nb ", kAliceToken),
            "has the token of client 'a'"},
        Bad{"# only comments\n", "no 'client_name token' lines"}}) {
    absl::StatusOr<TokenTable> parsed = TokenTable::Parse(bad.text, "tokens");
    ASSERT_FALSE(parsed.ok()) << bad.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(bad.message));
    EXPECT_THAT(parsed.status().message(),
                ::testing::Not(HasSubstr(kAliceToken)));
  }
}

TEST(ClientQuotasTest, CountsStreamsAndSessionsPerClientUntilReleased) {
  ClientQuotas quotas({.max_streams = 2, .max_sessions = 1}, nullptr);
  absl::StatusOr<CallQuota> a1 = quotas.StartCall("alice", /*session=*/true);
  ASSERT_TRUE(a1.ok());
  absl::StatusOr<CallQuota> a2 = quotas.StartCall("alice", /*session=*/true);
  ASSERT_FALSE(a2.ok());
  EXPECT_EQ(a2.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(a2.status().message(),
              HasSubstr("max_sessions_per_client: client 'alice' has 1 of 1"));
  absl::StatusOr<CallQuota> a3 = quotas.StartCall("alice", false);
  ASSERT_TRUE(a3.ok());
  absl::StatusOr<CallQuota> a4 = quotas.StartCall("alice", false);
  ASSERT_FALSE(a4.ok());
  EXPECT_THAT(a4.status().message(), HasSubstr("max_streams_per_client"));
  // The quota's name travels with the status (the HTTP 429's code); no
  // retry time is known for a count.
  EXPECT_EQ(QuotaOfStatus(a4.status()), "max_streams_per_client");
  EXPECT_EQ(QuotaOfStatus(a2.status()), "max_sessions_per_client");
  EXPECT_FALSE(RetryAfterSecondsOfStatus(a4.status()).has_value());
  EXPECT_EQ(QuotaOfStatus(absl::ResourceExhaustedError("queue full")), "");
  EXPECT_TRUE(quotas.StartCall("bob", true).ok());
  *a1 = CallQuota();  // releases the session and a stream
  EXPECT_TRUE(quotas.StartCall("alice", true).ok());
}

TEST(ClientQuotasTest, TokenBucketAdmitsWhileAboveZeroThenRefusesUntilRefill) {
  ClientQuotas quotas({.tokens_per_second = 1000, .token_burst = 100}, nullptr);
  absl::StatusOr<CallQuota> call = quotas.StartCall("alice", false);
  ASSERT_TRUE(call.ok());
  EXPECT_TRUE(call->ChargeTokens(60).ok());
  EXPECT_TRUE(call->ChargeTokens(60).ok());  // 40 left: admitted into debt
  const absl::Status refused = call->ChargeTokens(1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(),
              HasSubstr("tokens_per_second_per_client: client 'alice'"));
  EXPECT_EQ(QuotaOfStatus(refused), "tokens_per_second_per_client");
  // 20 tokens of debt at 1000/s: above zero again in about 21 ms.
  const std::optional<double> retry = RetryAfterSecondsOfStatus(refused);
  ASSERT_TRUE(retry.has_value());
  EXPECT_GT(*retry, 0.015);
  EXPECT_LT(*retry, 0.022);
  absl::SleepFor(absl::Milliseconds(50));  // +50 tokens: 30 in the bucket
  EXPECT_TRUE(call->ChargeTokens(1).ok());
}

// Over real gRPC: TLS with tokens (quotas per client name) or plaintext
// (quotas per peer address).
class QuotaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(MakeTempDir("trilemma_quota_"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    WriteText(pki_.dir + "/tokens.txt",
              absl::StrCat("alice ", kAliceToken, "\nbob ", kBobToken, "\n"));
  }

  void StartServer(const QuotaOptions& quotas, bool tls) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.quotas = quotas;
    if (tls) {
      options.tls = {.cert_file = pki_.server_cert,
                     .key_file = pki_.server_key,
                     .client_ca_file = ""};
      options.auth_tokens_file = pki_.dir + "/tokens.txt";
    }
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        TrilemmaServer::Start({NullSpec()}, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    tls_ = tls;
  }

  // A stub on its own connection, sending `token` when TLS is on.
  std::unique_ptr<v1::Trilemma::Stub> Client(const std::string& token) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials();
    if (tls_) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadText(pki_.ca_cert);
      credentials = grpc::CompositeChannelCredentials(
          grpc::SslCredentials(ssl),
          grpc::AccessTokenCredentials(token));  // "Bearer <token>"
    }
    return v1::Trilemma::NewStub(
        grpc::CreateCustomChannel(server_->address(), credentials, args));
  }

  double Rejections(const std::string& quota) {
    absl::StatusOr<std::string> text =
        HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return ParseMetrics(text.ok() ? *text : "")[absl::StrCat(
        "trilemma_quota_rejections_total{quota=\"", quota, "\"}")];
  }

  TestPki pki_;
  std::unique_ptr<TrilemmaServer> server_;
  bool tls_ = false;
};

TEST_F(QuotaServerTest, StreamsAndSessionsPerClientName) {
  StartServer({.max_streams = 2, .max_sessions = 1}, /*tls=*/true);
  auto alice = Client(kAliceToken);
  auto alice_again = Client(kAliceToken);  // same name, other connection
  auto bob = Client(kBobToken);

  SessionClient s1(*alice);
  ASSERT_TRUE(s1.Open("null"));
  SessionClient s2(*alice_again);
  EXPECT_FALSE(s2.Open("null"));
  const grpc::Status refused = s2.Close();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("max_sessions_per_client"));
  EXPECT_THAT(refused.error_message(), HasSubstr("'alice'"));

  // One session + one Generate stream = alice's 2 streams.
  grpc::ClientContext held;
  SetDeadline(&held);
  v1::GenerateRequest slow = MakeGenerate("null", {1}, 60000);
  auto held_stream = alice->Generate(&held, slow);
  v1::GenerateEvent first;
  ASSERT_TRUE(held_stream->Read(&first));  // admitted and streaming
  const GenerateResult third =
      RunGenerate(*alice_again, MakeGenerate("null", {1}, 1));
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.status.error_message(),
              HasSubstr("max_streams_per_client: client 'alice' has 2 of 2"));
  // Bob is not charged for alice.
  SessionClient bob_session(*bob);
  EXPECT_TRUE(bob_session.Open("null"));
  EXPECT_TRUE(RunGenerate(*bob, MakeGenerate("null", {1}, 1)).status.ok());

  held.TryCancel();
  while (held_stream->Read(&first)) {
  }
  held_stream->Finish();
  EXPECT_TRUE(PollUntil([&] {
    return RunGenerate(*alice_again, MakeGenerate("null", {1}, 1)).status.ok();
  }));
  EXPECT_EQ(Rejections("max_sessions_per_client"), 1);
  EXPECT_GE(Rejections("max_streams_per_client"), 1);
}

TEST_F(QuotaServerTest, TokensPerSecondRefusesGenerateAndSessionTurns) {
  // 1 token/s: nothing refills within the test.
  StartServer({.tokens_per_second = 1, .token_burst = 20}, /*tls=*/true);
  auto alice = Client(kAliceToken);
  // 10 prompt + 40 new = 50 > 20: admitted (bucket above zero), leaving a
  // debt of 30 tokens, i.e. 30 s.
  EXPECT_TRUE(
      RunGenerate(*alice, MakeGenerate("null", std::vector<int32_t>(10, 1), 40))
          .status.ok());
  const GenerateResult refused =
      RunGenerate(*alice, MakeGenerate("null", {1}, 1));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("tokens_per_second_per_client: client 'alice'"));

  auto bob = Client(kBobToken);
  SessionClient session(*bob);
  ASSERT_TRUE(session.Open("null"));
  ASSERT_TRUE(session.Append(std::vector<int32_t>(60, 2)).has_value());
  EXPECT_FALSE(session.Append({3}).has_value());
  const grpc::Status ended = session.Close();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(ended.error_message(), HasSubstr("client 'bob'"));
  EXPECT_EQ(Rejections("tokens_per_second_per_client"), 2);
}

TEST_F(QuotaServerTest, WithoutTokensTheQuotaKeyIsThePeerAddress) {
  StartServer({.max_sessions = 1}, /*tls=*/false);
  auto first = Client("");
  auto second = Client("");  // another connection from 127.0.0.1
  SessionClient s1(*first);
  ASSERT_TRUE(s1.Open("null"));
  SessionClient s2(*second);
  EXPECT_FALSE(s2.Open("null"));
  const grpc::Status refused = s2.Close();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("'ipv4:127.0.0.1'"));
}

// Connects to 127.0.0.1:`port`; -1 on failure.
int ConnectTcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// GET /metrics on a socket that gives up after 5 s without data: with one
// worker and civetweb's 30 s default request timeout (the old exposer), ten
// idle connections held this scrape for minutes.
absl::StatusOr<std::string> ScrapeWithin5s(int port) {
  const int fd = ConnectTcp(port);
  if (fd < 0) return absl::UnavailableError("connect");
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("write");
  }
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (n < 0) return absl::DeadlineExceededError("no complete answer in 5 s");
  return response;
}

TEST(MetricsUnderAbuseTest, ScrapesWhileTenIdleConnectionsAreHeld) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start({NullSpec()}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {
    const int fd = ConnectTcp((*server)->metrics_port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // A half-sent request too: a slow client.
  static_cast<void>(write(idle.back(), "GET /metr", 9));
  for (int scrape = 0; scrape < 3; ++scrape) {
    absl::StatusOr<std::string> response =
        ScrapeWithin5s((*server)->metrics_port());
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_THAT(*response, HasSubstr("200 OK"));
    EXPECT_THAT(*response, HasSubstr("trilemma_engine_info"));
  }
  for (int fd : idle) close(fd);
}

}  // namespace
}  // namespace trilemma::testing
