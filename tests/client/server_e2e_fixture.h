// A GoogleTest fixture base for suites that run the real `trilemma` binary
// against one real trilemma-server per test process (CTest runs each test in
// its own process, so that is one server per test). The suite's
// SetUpTestSuite starts the server from a text-format ServerConfig; tests
// call Client(...) and read the ProcessResult.
//
// Example:
//   class MyEndToEndTest : public ServerEndToEndTest {
//    protected:
//     static void SetUpTestSuite() { StartServer("my_e2e", kConfig); }
//   };
//   TEST_F(MyEndToEndTest, Engines) {
//     EXPECT_EQ(Client({"engines"}).exit_code, 0);
//   }
//
// REQUIRES: the including target defines TRILEMMA_CLIENT_PATH and
// TRILEMMA_SERVER_PATH (the built binaries) and links
// trilemma_test_subprocess.
#ifndef TRILEMMA_TESTS_CLIENT_SERVER_E2E_FIXTURE_H_
#define TRILEMMA_TESTS_CLIENT_SERVER_E2E_FIXTURE_H_

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/client/server_process.h"
#include "tests/client/subprocess.h"

namespace trilemma::testing {

class ServerEndToEndTest : public ::testing::Test {
 protected:
  static constexpr const char* kClient = TRILEMMA_CLIENT_PATH;
  static constexpr const char* kServer = TRILEMMA_SERVER_PATH;

  // Writes `config` (a text-format trilemma.v1.ServerConfig) to
  // <stem>.textproto and starts the server on it (metrics off), logging to
  // <stem>.log; <stem> is $TEST_TMPDIR/trilemma_<name>_<pid>.
  static void StartServer(const std::string& name, const std::string& config) {
    stem_ = new std::string(TestTempDir() + "/trilemma_" + name + "_" +
                            std::to_string(getpid()));
    std::ofstream(ConfigPath()) << config;
    server_ = new ServerProcess(StartServerProcess(
        kServer, {"--metrics_listen=", "--config=" + ConfigPath()},
        *stem_ + ".log"));
  }

  // Stops the server and removes its config and log.
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (stem_ != nullptr) {
      std::remove(ConfigPath().c_str());
      std::remove((*stem_ + ".log").c_str());
    }
    delete stem_;
    stem_ = nullptr;
  }

  void SetUp() override {
    ASSERT_FALSE(server_->address.empty())
        << "trilemma-server did not print its ready line; log:\n"
        << server_->process->Log();
  }

  // Runs `trilemma --target=<the server> args...`.
  static ProcessResult Client(std::vector<std::string> args) {
    args.insert(args.begin(), {kClient, "--target=" + server_->address});
    return RunProcess(args);
  }

  // Temp file paths of this suite: <stem> + a suffix.
  static const std::string& stem() { return *stem_; }
  static std::string ConfigPath() { return *stem_ + ".textproto"; }
  static const ServerProcess& server() { return *server_; }

 private:
  static inline ServerProcess* server_ = nullptr;
  static inline std::string* stem_ = nullptr;
};

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_CLIENT_SERVER_E2E_FIXTURE_H_
