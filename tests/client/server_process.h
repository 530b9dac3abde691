// The trilemma-server binary started as a child process on free ports, for
// the end-to-end suites of every test area that drives the real binaries
// (tests/client, tests/client_load): it is told to listen on port 0 and the
// addresses it bound are read from its ready line.
//
// Example:
//   ServerProcess server = StartServerProcess(
//       TRILEMMA_SERVER_PATH, {"--metrics_listen=", "--config=" + config},
//       "/tmp/server.log");
//   ASSERT_FALSE(server.address.empty()) << server.process->Log();
//   RunProcess({TRILEMMA_CLIENT_PATH, "--target=" + server.address,
//               "engines"});
#ifndef TRILEMMA_TESTS_CLIENT_SERVER_PROCESS_H_
#define TRILEMMA_TESTS_CLIENT_SERVER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/client/subprocess.h"

namespace trilemma::testing {

// A started server; destroying `process` stops it (SIGTERM, then SIGKILL).
struct ServerProcess {
  std::unique_ptr<ChildProcess> process;
  // host:port of the gRPC listener; empty when no ready line came within
  // 60 s (or the server exited first).
  std::string address;
  // What the ready line says after "metrics=": host:port, or "off".
  std::string metrics_address;
};

// Runs `server_binary --listen=127.0.0.1:0 <flags...>` with its output in
// `log_path` and waits for its ready line.
ServerProcess StartServerProcess(const std::string& server_binary,
                                 const std::vector<std::string>& flags,
                                 const std::string& log_path);

// The address after `key` ("grpc=" or "metrics=") in the server's ready
// line within `log`; empty until the line is printed.
std::string ReadyAddress(absl::string_view log, absl::string_view key);

// $TEST_TMPDIR, else /tmp.
std::string TestTempDir();

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_CLIENT_SERVER_PROCESS_H_
