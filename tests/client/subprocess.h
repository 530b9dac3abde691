// Running the built binaries from tests: a command to completion with its
// output captured, or a long-running server killed at scope exit.
//
// Example:
//   ProcessResult r = RunProcess({kClientPath, "--target=127.0.0.1:1",
//   "engines"}); EXPECT_EQ(r.exit_code, 1); EXPECT_THAT(r.err,
//   HasSubstr("UNAVAILABLE"));
#ifndef TRILEMMA_TESTS_CLIENT_SUBPROCESS_H_
#define TRILEMMA_TESTS_CLIENT_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace trilemma::testing {

struct ProcessResult {
  // The exit status, or 128 + signal number when killed by a signal.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] with argv (no shell) and waits for it.
ProcessResult RunProcess(const std::vector<std::string>& argv);

// A child process with stdout and stderr going to `log_path`. The destructor
// sends SIGTERM, waits up to 10 s, then SIGKILLs.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, std::string log_path);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // False once the child has exited (reaping it).
  bool Running();
  // SIGTERM, then wait; returns the exit code as in ProcessResult.
  int Stop();
  // Everything the child printed so far.
  std::string Log() const;
  // For signals other than SIGTERM (e.g. SIGHUP).
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released).
int PickFreePort();

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_CLIENT_SUBPROCESS_H_
