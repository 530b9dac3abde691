#include "tests/client/server_process.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_split.h"

namespace trilemma::testing {

std::string ReadyAddress(absl::string_view log, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(key);
    if (line.find("trilemma-server ready:") != 0 || at == line.npos) continue;
    absl::string_view address = line.substr(at + key.size());
    return std::string{address.substr(0, address.find(' '))};
  }
  return "";
}

ServerProcess StartServerProcess(const std::string& server_binary,
                                 const std::vector<std::string>& flags,
                                 const std::string& log_path) {
  std::vector<std::string> argv = {server_binary, "--listen=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ServerProcess server;
  server.process = std::make_unique<ChildProcess>(argv, log_path);
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up &&
         server.process->Running()) {
    const std::string log = server.process->Log();
    server.address = ReadyAddress(log, "grpc=");
    if (!server.address.empty()) {
      server.metrics_address = ReadyAddress(log, "metrics=");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return server;
}

std::string TestTempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace trilemma::testing
