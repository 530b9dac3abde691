// HTTPS on the /metrics port of a real in-process server: a scraper trusting
// the server's CA is served, a plaintext or wrongly trusting one is not,
// mutual TLS needs the client certificate, bad files stop the start naming
// the flag, and a replaced certificate serves the next scrape.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_util.h"

namespace trilemma::testing {
namespace {

using ::testing::HasSubstr;

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free_all(bio); }
};

// GET `path` over TLS from 127.0.0.1:`port`, verifying the server against
// `ca_file` (and its IP SAN); with `cert_file`/`key_file` as the client
// certificate. The response (headers and body), or UNAVAILABLE with
// OpenSSL's reason when the handshake or exchange fails.
absl::StatusOr<std::string> HttpsGet(int port, const std::string& path,
                                     const std::string& ca_file,
                                     const std::string& cert_file = "",
                                     const std::string& key_file = "") {
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return absl::InternalError("cannot load the CA file");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(),
                                   SSL_FILETYPE_PEM) != 1)) {
    return absl::InternalError("cannot load the client certificate");
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_ssl_connect(ctx.get()));
  SSL* ssl = nullptr;
  BIO_get_ssl(bio.get(), &ssl);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  BIO_set_conn_hostname(bio.get(), absl::StrCat("127.0.0.1:", port).c_str());
  const std::string request =
      absl::StrCat("GET ", path,
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string response;
  if (BIO_do_connect(bio.get()) == 1 && BIO_do_handshake(bio.get()) == 1 &&
      BIO_write(bio.get(), request.data(), static_cast<int>(request.size())) ==
          static_cast<int>(request.size())) {
    char buffer[16384];
    int n;
    while ((n = BIO_read(bio.get(), buffer, sizeof(buffer))) > 0) {
      response.append(buffer, n);
    }
  }
  // With TLS 1.3 a refused client certificate shows only when reading.
  if (response.empty()) {
    char reason[256] = "no response";
    if (const unsigned long code = ERR_get_error()) {  // NOLINT(runtime/int)
      ERR_error_string_n(code, reason, sizeof(reason));
    }
    ERR_clear_error();
    return absl::UnavailableError(reason);
  }
  return response;
}

EngineSpec NullSpec() {
  return {.name = "null", .family = "null", .knobs = {}};
}

class MetricsTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = MakeTestPki(MakeTempDir("trilemma_mpki_"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*std::move(pki));
  }

  static ServerOptions Options(const std::string& client_ca = "") {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.metrics_tls = {.cert_file = pki_->server_cert,
                           .key_file = pki_->server_key,
                           .client_ca_file = client_ca};
    return options;
  }

  static std::unique_ptr<TrilemmaServer> Start(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        TrilemmaServer::Start({NullSpec()}, options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  static TestPki* pki_;
};

TestPki* MetricsTlsTest::pki_ = nullptr;

TEST_F(MetricsTlsTest, ServesAScraperTrustingItsCa) {
  std::unique_ptr<TrilemmaServer> server = Start(Options());
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page =
      HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, HasSubstr("200 OK"));
  EXPECT_THAT(*page, HasSubstr("# TYPE trilemma_"));
}

TEST_F(MetricsTlsTest, RefusesPlaintextScrapes) {
  std::unique_ptr<TrilemmaServer> server = Start(Options());
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page =
      HttpGet(server->metrics_port(), "/metrics");
  // civetweb answers plain HTTP on a TLS port with nothing, or a TLS alert:
  // never the page.
  EXPECT_FALSE(page.ok() && page->find("trilemma_") != std::string::npos)
      << *page;
}

TEST_F(MetricsTlsTest, RefusesAScraperTrustingAnotherCa) {
  std::unique_ptr<TrilemmaServer> server = Start(Options());
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> page =
      HttpsGet(server->metrics_port(), "/metrics", pki_->other_ca_cert);
  EXPECT_FALSE(page.ok());
  EXPECT_THAT(page.status().message(), HasSubstr("certificate verify failed"));
}

TEST_F(MetricsTlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  std::unique_ptr<TrilemmaServer> server = Start(Options(pki_->ca_cert));
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(
      HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert).ok());
  absl::StatusOr<std::string> page =
      HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert,
               pki_->client_cert, pki_->client_key);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, HasSubstr("trilemma_"));
  // The server certificate (signed by the CA) is not a client certificate
  // of another CA: a client CA that signed nothing refuses it.
  std::unique_ptr<TrilemmaServer> strict = Start(Options(pki_->other_ca_cert));
  ASSERT_NE(strict, nullptr);
  EXPECT_FALSE(HttpsGet(strict->metrics_port(), "/metrics", pki_->ca_cert,
                        pki_->client_cert, pki_->client_key)
                   .ok());
}

TEST_F(MetricsTlsTest, BadFilesAreRefusedAtStartNamingTheFlag) {
  const std::string dir = MakeTempDir("trilemma_mtls_bad_");
  WriteText(dir + "/garbage.pem", "not a certificate\n");
  struct Case {
    ServerOptions options;
    std::string flag;
  };
  ServerOptions only_cert = Options();
  only_cert.metrics_tls.key_file = "";
  ServerOptions missing = Options();
  missing.metrics_tls.cert_file = dir + "/missing.pem";
  ServerOptions garbage_cert = Options();
  garbage_cert.metrics_tls.cert_file = dir + "/garbage.pem";
  ServerOptions garbage_key = Options();
  garbage_key.metrics_tls.key_file = dir + "/garbage.pem";
  ServerOptions wrong_key = Options();
  wrong_key.metrics_tls.key_file = pki_->client_key;
  ServerOptions garbage_ca = Options(dir + "/garbage.pem");
  for (const Case& c : {Case{only_cert, "metrics_tls_key_file"},
                        Case{missing, "metrics_tls_cert_file"},
                        Case{garbage_cert, "metrics_tls_cert_file"},
                        Case{garbage_key, "metrics_tls_key_file"},
                        Case{wrong_key, "metrics_tls_key_file"},
                        Case{garbage_ca, "metrics_tls_client_ca_file"}}) {
    absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
        TrilemmaServer::Start({NullSpec()}, c.options);
    ASSERT_FALSE(server.ok()) << c.flag;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(server.status().message(), HasSubstr(c.flag));
  }
}

TEST_F(MetricsTlsTest, AReplacedCertificateServesTheNextScrape) {
  // The server's files are copies, replaced by rename like a Secret update.
  const std::string dir = MakeTempDir("trilemma_mtls_swap_");
  absl::StatusOr<TestPki> second = MakeTestPki(dir + "/second");
  ASSERT_TRUE(second.ok()) << second.status();
  namespace fs = std::filesystem;
  fs::copy_file(pki_->server_cert, dir + "/tls.crt");
  fs::copy_file(pki_->server_key, dir + "/tls.key");
  ServerOptions options = Options();
  options.metrics_tls.cert_file = dir + "/tls.crt";
  options.metrics_tls.key_file = dir + "/tls.key";
  std::unique_ptr<TrilemmaServer> server = Start(options);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert).ok());

  // A broken replacement keeps the old pair serving.
  WriteText(dir + "/broken.crt", "-----BEGIN CERTIFICATE-----\nxx\n");
  fs::rename(dir + "/broken.crt", dir + "/tls.crt");
  EXPECT_TRUE(HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert).ok());

  fs::copy_file(second->server_key, dir + "/new.key");
  fs::copy_file(second->server_cert, dir + "/new.crt");
  fs::rename(dir + "/new.key", dir + "/tls.key");
  fs::rename(dir + "/new.crt", dir + "/tls.crt");
  absl::StatusOr<std::string> page =
      HttpsGet(server->metrics_port(), "/metrics", second->ca_cert);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, HasSubstr("trilemma_"));
  EXPECT_FALSE(
      HttpsGet(server->metrics_port(), "/metrics", pki_->ca_cert).ok());
}

}  // namespace
}  // namespace trilemma::testing
