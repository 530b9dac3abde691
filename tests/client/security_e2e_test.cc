// End to end, the acceptance check: the real trilemma-server with
// --tls_cert_file, --tls_key_file and --auth_tokens_file serves the real
// `trilemma --tls_ca_file=... --auth_token=... engines`, and refuses the
// same command without the token (UNAUTHENTICATED) or without TLS. SIGHUP
// re-reads the token file.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/server_process.h"
#include "tests/client/subprocess.h"
#include "tests/server/test_certs.h"

namespace trilemma::testing {
namespace {

using ::testing::HasSubstr;

const std::string kClient = TRILEMMA_CLIENT_PATH;
const std::string kServer = TRILEMMA_SERVER_PATH;
constexpr char kToken[] = "cli-token-0123456789abcdef";

class SecurityEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = MakeTestPki(MakeTempDir("trilemma_cli_"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
    WriteText(pki_->dir + "/tokens.txt", absl::StrCat("ci ", kToken, "\n"));
    server_ = new ServerProcess(
        StartServerProcess(kServer,
                           {"--metrics_listen=", "--engines=null",
                            "--tls_cert_file=" + pki_->server_cert,
                            "--tls_key_file=" + pki_->server_key,
                            "--auth_tokens_file=" + pki_->dir + "/tokens.txt"},
                           pki_->dir + "/server.log"));
    ASSERT_FALSE(server_->address.empty())
        << "server did not start: " << server_->process->Log();
    target_ = new std::string("--target=" + server_->address);
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static ProcessResult Client(std::vector<std::string> flags) {
    std::vector<std::string> argv = {kClient, *target_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProcess(argv);
  }

  static TestPki* pki_;
  static ServerProcess* server_;
  static std::string* target_;
};

TestPki* SecurityEndToEndTest::pki_ = nullptr;
ServerProcess* SecurityEndToEndTest::server_ = nullptr;
std::string* SecurityEndToEndTest::target_ = nullptr;

TEST_F(SecurityEndToEndTest, ServesTheClientWithCaAndToken) {
  const ProcessResult r =
      Client({"--tls_ca_file=" + pki_->ca_cert,
              absl::StrCat("--auth_token=", kToken), "engines"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("null"));
}

TEST_F(SecurityEndToEndTest, TakesTheTokenFromTrilemmaToken) {
  ASSERT_EQ(setenv("TRILEMMA_TOKEN", kToken, 1), 0);
  const ProcessResult r = Client({"--tls_ca_file=" + pki_->ca_cert, "engines"});
  unsetenv("TRILEMMA_TOKEN");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("null"));
}

TEST_F(SecurityEndToEndTest, RefusesWithoutTokenOrWithAWrongOne) {
  ProcessResult r = Client({"--tls_ca_file=" + pki_->ca_cert, "engines"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  r = Client({"--tls_ca_file=" + pki_->ca_cert,
              "--auth_token=wrong-token-0123456789abcdef", "engines"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("wrong-token")));
}

TEST_F(SecurityEndToEndTest, RefusesWithoutTls) {
  // Plaintext to the TLS port: the handshake fails.
  ProcessResult r = Client({"engines"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
  // The client will not send a token in plaintext at all.
  r = Client({absl::StrCat("--auth_token=", kToken), "engines"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs TLS"));
  // Trusting another CA.
  r = Client({"--tls_ca_file=" + pki_->other_ca_cert,
              absl::StrCat("--auth_token=", kToken), "engines"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(SecurityEndToEndTest, HealthAnswersWithoutToken) {
  const ProcessResult r = Client({"--tls_ca_file=" + pki_->ca_cert, "health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SecurityEndToEndTest, SighupReloadsTheTokenFile) {
  const std::string fresh = "fresh-token-0123456789abcdef";
  WriteText(pki_->dir + "/tokens.txt",
            absl::StrCat("ci ", kToken, "\nfresh ", fresh, "\n"));
  ASSERT_EQ(kill(server_->process->pid(), SIGHUP), 0);
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = Client({"--tls_ca_file=" + pki_->ca_cert, "--auth_token=" + fresh,
                     "engines"})
                 .exit_code == 0;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(served) << server_->process->Log();
  EXPECT_THAT(server_->process->Log(), HasSubstr("auth tokens reloaded"));
}

}  // namespace
}  // namespace trilemma::testing
