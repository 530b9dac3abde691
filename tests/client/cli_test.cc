// The `trilemma` binary's command line, without a server: help, usage
// errors (exit 2, naming the flag) and RPC errors (exit 1, naming the gRPC
// status code).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/subprocess.h"

namespace trilemma::testing {
namespace {

using ::testing::HasSubstr;

const std::string kClient = TRILEMMA_CLIENT_PATH;

// Nothing listens on a freshly picked free port: calls fail fast.
std::string DeadTarget() {
  return "--target=127.0.0.1:" + std::to_string(PickFreePort());
}

TEST(CliTest, HelpListsCommands) {
  const ProcessResult r = RunProcess({kClient, "--help"});
  EXPECT_THAT(r.out, HasSubstr("engines"));
  EXPECT_THAT(r.out, HasSubstr("generate"));
  EXPECT_THAT(r.out, HasSubstr("recall"));
  EXPECT_THAT(r.out, HasSubstr("--target"));
  EXPECT_THAT(r.out, HasSubstr("--pairs"));
}

TEST(CliTest, MissingOrUnknownCommandIsUsageError) {
  ProcessResult r = RunProcess({kClient});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no command given"));
  r = RunProcess({kClient, "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'frobnicate'"));
}

TEST(CliTest, BadFlagValuesAreUsageErrorsNamingTheFlag) {
  ProcessResult r =
      RunProcess({kClient, DeadTarget(), "recall", "--pairs=16,x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: --pairs[1]: 'x'"));
  r = RunProcess({kClient, DeadTarget(), "generate", "--engine=attention",
                  "--prompt=1 two"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--prompt[1]"));
  r = RunProcess({kClient, DeadTarget(), "engines", "--format=xml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--format: 'xml'"));
  r = RunProcess({kClient, "--target=1.2.3.4:5,6.7.8.9", "engines"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--target[1]"));
  // Abseil rejects an unknown flag before any command runs.
  r = RunProcess({kClient, "engines", "--no_such_flag=1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no_such_flag"));
}

TEST(CliTest, UnreachableServerPrintsStatusAndExitsOne) {
  ProcessResult r = RunProcess({kClient, DeadTarget(), "engines"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("trilemma engines: UNAVAILABLE"));
  r = RunProcess({kClient, DeadTarget(), "generate", "--engine=attention",
                  "--prompt=1 2 3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("trilemma generate: UNAVAILABLE"));
  r = RunProcess({kClient, DeadTarget(), "recall", "--pairs=4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("trilemma recall: UNAVAILABLE"));
}

}  // namespace
}  // namespace trilemma::testing
