// End to end: the real trilemma-server binary with small engines (d_model
// 32, vocab 512) on a free port, driven by the real `trilemma` binary.
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/client/server_e2e_fixture.h"
#include "tests/client/subprocess.h"
#include "trilemma/v1/report.pb.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] = R"pb(
  engines {
    name: "attention"
    family: "attention"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
  }
  engines {
    name: "sw16"
    family: "sliding_window"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
    knobs { key: "window" value: "16" }
  }
  engines {
    name: "mamba"
    family: "mamba"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
  }
)pb";

// One server for the whole suite (each CTest runs one test, so one server
// per test process).
class ClientEndToEndTest : public ServerEndToEndTest {
 protected:
  static void SetUpTestSuite() { StartServer("client_e2e", kConfig); }

  static v1::RecallReport ParseReport(const std::string& json) {
    v1::RecallReport report;
    const auto status =
        google::protobuf::util::JsonStringToMessage(json, &report);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
    return report;
  }
};

TEST_F(ClientEndToEndTest, EnginesTableAndJson) {
  ProcessResult r = Client({"engines"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("attention"));
  EXPECT_THAT(r.out, HasSubstr("sliding_window"));
  EXPECT_THAT(r.out, HasSubstr("mamba"));
  EXPECT_THAT(r.out, HasSubstr("- - R"));  // attention keeps only recall

  r = Client({"engines", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::ListEnginesResponse response;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(r.out, &response).ok())
      << r.out;
  ASSERT_EQ(response.engines_size(), 3);
  EXPECT_EQ(response.engines(0).name(), "attention");
  EXPECT_EQ(response.engines(1).name(), "sw16");
  EXPECT_EQ(response.engines(1).shape().window(), 16);
  EXPECT_EQ(response.engines(2).family(), "mamba");
  for (const v1::EngineInfo& info : response.engines()) {
    EXPECT_EQ(info.shape().d_model(), 32) << info.name();
    EXPECT_EQ(info.shape().vocab(), 512) << info.name();
  }
}

TEST_F(ClientEndToEndTest, GenerateStreamsTokensThenSummary) {
  // Two stored pairs, then the first key: full attention answers its value.
  ProcessResult r = Client({"generate", "--engine=attention",
                            "--prompt=3 300 5 400 3", "--max_new_tokens=4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_GE(lines.size(), 3u) << r.out;
  const std::vector<std::string> tokens =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  ASSERT_EQ(tokens.size(), 4u) << r.out;
  for (const std::string& token : tokens) {
    int id;
    ASSERT_TRUE(absl::SimpleAtoi(token, &id)) << token;
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 512);
  }
  EXPECT_EQ(tokens[0], "300") << r.out;
  EXPECT_THAT(r.out, HasSubstr("finish LENGTH"));
  EXPECT_THAT(r.out, HasSubstr("5 prompt + 4 generated"));

  r = Client({"generate", "--engine=attention", "--prompt=3 4",
              "--max_new_tokens=8", "--max_context_tokens=4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("finish CONTEXT_LIMIT"));
}

TEST_F(ClientEndToEndTest, GenerateReportsServerErrors) {
  ProcessResult r =
      Client({"generate", "--engine=no_such_engine", "--prompt=1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("trilemma generate: INVALID_ARGUMENT"));
  r = Client({"generate", "--engine=attention", "--prompt=1 9000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, HasSubstr("9000"));
}

TEST_F(ClientEndToEndTest, RecallJsonHasEveryRowInOrder) {
  ProcessResult r = Client({"recall", "--engines=all", "--pairs=4,16",
                            "--queries=16", "--seed=7", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const v1::RecallReport report = ParseReport(r.out);
  EXPECT_EQ(report.seed(), 7u);
  ASSERT_EQ(report.engines_size(), 3);
  ASSERT_EQ(report.rows_size(), 6);
  const std::string engines[] = {"attention", "sw16", "mamba"};
  const int pairs[] = {4, 16};
  for (int e = 0; e < 3; ++e) {
    for (int p = 0; p < 2; ++p) {
      const v1::RecallRow& row = report.rows(2 * e + p);
      SCOPED_TRACE(row.ShortDebugString());
      EXPECT_EQ(row.engine(), engines[e]);
      EXPECT_EQ(row.pairs(), pairs[p]);
      EXPECT_EQ(row.error(), "");
      EXPECT_EQ(row.queries(), 16);
      EXPECT_LE(row.hits(), row.queries());
      EXPECT_DOUBLE_EQ(row.recall(),
                       static_cast<double>(row.hits()) / row.queries());
      EXPECT_EQ(row.context_tokens(), 2 * pairs[p]);
      EXPECT_GT(row.state_bytes(), 0);
      EXPECT_GT(row.flops_per_token(), 0);
      EXPECT_GT(row.ms_per_step(), 0);
    }
  }
  const v1::RecallRow& attention4 = report.rows(0);
  const v1::RecallRow& attention16 = report.rows(1);
  const v1::RecallRow& sw16 = report.rows(3);
  const v1::RecallRow& mamba4 = report.rows(4);
  const v1::RecallRow& mamba16 = report.rows(5);
  // Full attention recalls and its state grows with what it stores; the
  // window (16 tokens = 8 pairs) cannot hold 16 pairs; the SSM's state is
  // one fixed allocation.
  EXPECT_GE(attention16.recall(), 0.9);
  EXPECT_GT(attention16.state_bytes(), attention4.state_bytes());
  EXPECT_LT(sw16.recall(), attention16.recall());
  EXPECT_LT(sw16.state_bytes(), attention16.state_bytes());
  EXPECT_EQ(mamba16.state_bytes(), mamba4.state_bytes());

  // The same seed measures the same workload.
  r = Client({"recall", "--engines=attention", "--pairs=16", "--queries=16",
              "--seed=7", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::RecallReport again = ParseReport(r.out);
  ASSERT_EQ(again.rows_size(), 1);
  EXPECT_EQ(again.rows(0).hits(), attention16.hits());
}

TEST_F(ClientEndToEndTest, RecallTable) {
  ProcessResult r = Client({"recall", "--engines=mamba,attention", "--pairs=8",
                            "--queries=8", "--seed=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Header, dashed rule, one row per engine in the order asked for, then
  // the footnote.
  const std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << r.out;
  const std::vector<std::string> header =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  EXPECT_EQ(header, (std::vector<std::string>{"engine", "pairs", "recall",
                                              "hits", "context", "state",
                                              "flops/token", "ms/token"}))
      << r.out;
  EXPECT_EQ(lines[1].find_first_not_of("- "), std::string::npos) << lines[1];
  const std::string engines[] = {"mamba", "attention"};
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(lines[2 + i]);
    // engine, pairs, recall, hits, context come first and hold no spaces.
    const std::vector<std::string> cells =
        absl::StrSplit(lines[2 + i], ' ', absl::SkipEmpty());
    ASSERT_GE(cells.size(), 5u);
    EXPECT_EQ(cells[0], engines[i]);
    EXPECT_EQ(cells[1], "8");
    const std::vector<std::string> hits = absl::StrSplit(cells[3], '/');
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[1], "8");
    int hit_count = -1;
    double recall = -1;
    ASSERT_TRUE(absl::SimpleAtoi(hits[0], &hit_count));
    ASSERT_TRUE(absl::SimpleAtod(cells[2], &recall));
    EXPECT_NEAR(recall, hit_count / 8.0, 5e-4);
    EXPECT_EQ(cells[4], "16");  // 8 pairs stored
    if (engines[i] == "attention") {
      EXPECT_EQ(hit_count, 8);
    }
  }
  EXPECT_THAT(lines[4], HasSubstr("seed 3"));
}

TEST_F(ClientEndToEndTest, FailedRowIsRecordedAndTheRunContinues) {
  // 300 pairs cannot be drawn from vocab 512 (256 keys): that row fails,
  // the other is measured; the exit code says a row failed.
  ProcessResult r = Client({"recall", "--engines=attention", "--pairs=300,4",
                            "--queries=4", "--format=json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("1 of 2 rows failed"));
  const v1::RecallReport report = ParseReport(r.out);
  ASSERT_EQ(report.rows_size(), 2);
  EXPECT_THAT(report.rows(0).error(), HasSubstr("INVALID_ARGUMENT"));
  EXPECT_EQ(report.rows(1).error(), "");
  EXPECT_EQ(report.rows(1).queries(), 4);

  r = Client({"recall", "--engines=attention,rwkv"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no engine 'rwkv'"));
}

}  // namespace
}  // namespace trilemma::testing
