#include "tests/server/test_certs.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma::testing {
namespace {

// Runs a shell command with its output going to `log`; false on failure.
bool Run(const std::string& command, const std::string& log) {
  return std::system(absl::StrCat(command, " >>", log, " 2>&1").c_str()) == 0;
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, "XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* made = mkdtemp(buffer.data());
  return made != nullptr ? std::string(made) : std::string();
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  if (dir.empty() ||
      std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot create '", dir, "'"));
  }
  TestPki pki{.dir = dir,
              .ca_cert = dir + "/ca.pem",
              .server_cert = dir + "/server.pem",
              .server_key = dir + "/server.key",
              .client_cert = dir + "/client.pem",
              .client_key = dir + "/client.key",
              .other_ca_cert = dir + "/other_ca.pem"};
  const std::string log = dir + "/openssl.log";
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
  WriteText(dir + "/server.ext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  WriteText(dir + "/client.ext",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  auto ca = [&](const std::string& name, const std::string& cn) {
    return Run(absl::StrCat("openssl req -x509 ", key, " -nodes -days 2",
                            " -subj '/CN=", cn, "' -keyout '", dir, "/", name,
                            ".key' -out '", dir, "/", name, ".pem'",
                            " -addext basicConstraints=critical,CA:TRUE",
                            " -addext keyUsage=critical,keyCertSign,cRLSign"),
               log);
  };
  auto leaf = [&](const std::string& name, const std::string& cn) {
    return Run(absl::StrCat("openssl req ", key, " -nodes -subj '/CN=", cn,
                            "' -keyout '", dir, "/", name, ".key' -out '", dir,
                            "/", name, ".csr'"),
               log) &&
           Run(absl::StrCat("openssl x509 -req -days 2 -in '", dir, "/", name,
                            ".csr' -CA '", pki.ca_cert, "' -CAkey '", dir,
                            "/ca.key' -CAcreateserial -out '", dir, "/", name,
                            ".pem' -extfile '", dir, "/", name, ".ext'"),
               log);
  };
  if (!ca("ca", "Trilemma Test CA") || !ca("other_ca", "Unrelated CA") ||
      !leaf("server", "localhost") || !leaf("client", "test-client")) {
    return absl::InternalError(absl::StrCat("openssl failed: ", ReadText(log)));
  }
  return pki;
}

}  // namespace trilemma::testing
