// Test PKI made at test time with the openssl command line: a CA, a server
// certificate for 127.0.0.1 / localhost signed by it, a client certificate,
// and a second, unrelated CA. Nothing is committed; keys live in a fresh
// directory.
//
// Example:
//   absl::StatusOr<TestPki> pki = MakeTestPki("/tmp/pki1");
//   options.tls = {.cert_file = pki->server_cert, .key_file = pki->server_key};
//   grpc::SslCredentialsOptions ssl{.pem_root_certs = ReadText(pki->ca_cert)};
#ifndef TRILEMMA_TESTS_SERVER_TEST_CERTS_H_
#define TRILEMMA_TESTS_SERVER_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace trilemma::testing {

struct TestPki {
  std::string dir;
  std::string ca_cert;
  std::string server_cert;  // SAN IP:127.0.0.1, DNS:localhost
  std::string server_key;
  std::string client_cert;  // CN=test-client
  std::string client_key;
  std::string other_ca_cert;  // signed nothing here
};

// Creates `dir` and the files; INTERNAL with the openssl output on failure.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

// A fresh directory under $TEST_TMPDIR or /tmp.
std::string MakeTempDir(const std::string& prefix);

std::string ReadText(const std::string& path);
void WriteText(const std::string& path, const std::string& text);

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_SERVER_TEST_CERTS_H_
