// End to end: the real trilemma-server binary with small engines (d_model
// 32, vocab 512) on a free port, driven by `trilemma load` (closed and open
// loop, every request accounted for) and a tiny `trilemma sweep`, whose
// report.html is then rendered in headless Chromium.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/client/server_e2e_fixture.h"
#include "tests/client/server_process.h"
#include "tests/client/subprocess.h"
#include "trilemma/v1/report.pb.h"

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
    name: "sw64"
    family: "sliding_window"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
    knobs { key: "window" value: "64" }
  }
  engines {
    name: "mamba"
    family: "mamba"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
  }
)pb";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A second or third server on the suite's config, metrics on.
ServerProcess StartMetricsServer(const std::string& config,
                                 const std::string& log) {
  return StartServerProcess(
      TRILEMMA_SERVER_PATH,
      {"--metrics_listen=127.0.0.1:0", "--config=" + config}, log);
}

// The sum of every sample of `family` on a server's /metrics page, or -1
// when the page cannot be read.
double SumOfMetric(const std::string& metrics_address,
                   absl::string_view family) {
  const ProcessResult r = RunProcess(
      {"/usr/bin/curl", "-sf", "http://" + metrics_address + "/metrics"});
  if (r.exit_code != 0) return -1;
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, family)) continue;
    const absl::string_view rest = line.substr(family.size());
    if (!rest.empty() && rest[0] != '{' && rest[0] != ' ') continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      sum += value;
    }
  }
  return sum;
}

// One server per test process (CTest runs each test in its own process).
class LoadEndToEndTest : public ServerEndToEndTest {
 protected:
  static void SetUpTestSuite() { StartServer("load_e2e", kConfig); }

  static void TearDownTestSuite() {
    std::filesystem::remove_all(stem() + "_report");
    ServerEndToEndTest::TearDownTestSuite();
  }

  static v1::LoadReport ParseLoad(const std::string& json) {
    v1::LoadReport report;
    const auto status =
        google::protobuf::util::JsonStringToMessage(json, &report);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
    return report;
  }

  // sent == succeeded + failed, failed == sum by status, per engine and in
  // total, and the engines add up to the total.
  static void ExpectAccounted(const v1::LoadReport& report, int64_t sent) {
    EXPECT_EQ(report.total().sent(), sent);
    int64_t engines_sent = 0;
    std::vector<const v1::LoadEngineResult*> all = {&report.total()};
    for (const v1::LoadEngineResult& e : report.engines()) {
      all.push_back(&e);
      engines_sent += e.sent();
    }
    EXPECT_EQ(engines_sent, report.total().sent());
    for (const v1::LoadEngineResult* r : all) {
      SCOPED_TRACE(r->engine());
      int64_t by_status = 0;
      for (const auto& [code, count] : r->failed_by_status()) {
        by_status += count;
      }
      EXPECT_EQ(r->sent(), r->succeeded() + r->failed());
      EXPECT_EQ(r->failed(), by_status);
    }
  }
};

TEST_F(LoadEndToEndTest, ClosedLoopMqarAccountsForEveryRequest) {
  ProcessResult r =
      Client({"load", "--engines=attention,mamba", "--workload=mqar",
              "--pairs=8", "--queries=8", "--concurrency=4", "--requests=24",
              "--seed=1", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::LoadReport report = ParseLoad(r.out);
  ExpectAccounted(report, 24);
  EXPECT_EQ(report.settings().arrivals(), "closed");
  EXPECT_EQ(report.settings().concurrency(), 4);
  ASSERT_EQ(report.engines_size(), 2);
  const v1::LoadEngineResult& attention = report.engines(0);
  EXPECT_EQ(attention.engine(), "attention");
  EXPECT_EQ(attention.sent(), 12);
  EXPECT_EQ(attention.succeeded(), 12);
  EXPECT_EQ(attention.probes(), 12 * 8);
  EXPECT_GE(attention.recall(), 0.9);
  EXPECT_EQ(attention.output_tokens(), 12 * 8);
  EXPECT_EQ(attention.ttft().count(), 12);
  EXPECT_EQ(attention.itl().count(), 12 * 7);
  EXPECT_LE(attention.ttft().p50_seconds(), attention.ttft().p90_seconds());
  EXPECT_LE(attention.ttft().p90_seconds(), attention.ttft().p99_seconds());
  EXPECT_LE(attention.ttft().p99_seconds(), attention.ttft().max_seconds());
  EXPECT_GT(attention.peak_state_bytes(), 0);
  EXPECT_GT(attention.flops_per_token(), 0);
  EXPECT_GT(attention.requests_per_second(), 0);
  ASSERT_GE(attention.recall_by_context_size(), 1);
  EXPECT_EQ(attention.finish_reasons().at("LENGTH"), 12 * 8);
  // The SSM holds one fixed state; attention's KV grows past it here.
  const v1::LoadEngineResult& mamba = report.engines(1);
  EXPECT_EQ(mamba.engine(), "mamba");
  EXPECT_GT(mamba.peak_state_bytes(), 0);
  EXPECT_GT(attention.peak_state_bytes(), mamba.peak_state_bytes());
  EXPECT_EQ(attention.sent_by_workload().at("mqar"), 12);
  EXPECT_EQ(mamba.sent_by_workload().at("mqar"), 12);
  EXPECT_EQ(attention.sent_by_workload().size(), 1u);
  EXPECT_EQ(mamba.sent_by_workload().size(), 1u);
}

TEST_F(LoadEndToEndTest, OpenLoopRandomReportsGoodput) {
  ProcessResult r = Client(
      {"load", "--engines=sw16", "--workload=random", "--rate=40",
       "--duration=2s", "--prompt_tokens=uniform:4:16", "--output_tokens=4",
       "--slo=ttft:5s,itl:5s", "--seed=2", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::LoadReport report = ParseLoad(r.out);
  // Poisson with mean 80 arrivals in 2 s: more than 30 for any sane seed.
  EXPECT_GT(report.total().sent(), 30);
  ExpectAccounted(report, report.total().sent());
  EXPECT_EQ(report.settings().arrivals(), "open");
  EXPECT_DOUBLE_EQ(report.settings().rate(), 40);
  EXPECT_DOUBLE_EQ(report.settings().burstiness(), 1);
  const v1::LoadEngineResult& e = report.engines(0);
  EXPECT_EQ(e.probes(), 0);
  EXPECT_EQ(e.output_tokens(), 4 * e.succeeded());
  EXPECT_EQ(e.itl().count(), 3 * e.succeeded());
  EXPECT_GT(e.goodput_requests_per_second(), 0);
  EXPECT_LE(e.goodput_requests_per_second(), e.requests_per_second());
  EXPECT_LE(e.good_requests(), e.succeeded());
}

// Two servers behind one --target list: the mix of workloads is read back
// from the JSON report (each kind sent, per engine and in total, and the
// probes they imply), and each server's own metrics show it served requests.
TEST_F(LoadEndToEndTest, MixedWorkloadsOverATargetListToJsonFile) {
  ServerProcess first = StartMetricsServer(ConfigPath(), stem() + "_a.log");
  ServerProcess second = StartMetricsServer(ConfigPath(), stem() + "_b.log");
  ASSERT_FALSE(first.address.empty()) << first.process->Log();
  ASSERT_FALSE(second.address.empty()) << second.process->Log();
  ASSERT_NE(first.address, second.address);
  const std::string json_path = stem() + "_load.json";
  std::vector<std::string> args = {
      kClient,
      absl::StrCat("--target=", first.address, ",", second.address),
      "load",
      "--engines=attention,sw64",
      "--workload=mqar:1,niah:1,random:1",
      "--pairs=4,8",
      "--queries=4",
      "--haystack=uniform:32:96",
      "--depth=0,0.5,1",
      "--prompt_tokens=8",
      "--output_tokens=3",
      "--requests=30",
      "--concurrency=6",
      "--seed=3",
      "--format=json",
      "--out=" + json_path};
  ProcessResult r = RunProcess(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("all requests accounted for: sent 30 = "));
  EXPECT_THAT(r.out, HasSubstr("report written to " + json_path));
  const v1::LoadReport report = ParseLoad(ReadFile(json_path));
  std::filesystem::remove(json_path);
  ExpectAccounted(report, 30);
  EXPECT_EQ(report.settings().workload(), "mqar:1,niah:1,random:1");
  ASSERT_EQ(report.engines_size(), 2);
  EXPECT_EQ(report.engines(0).engine(), "attention");
  EXPECT_EQ(report.engines(1).engine(), "sw64");
  std::map<std::string, int64_t> total_by_workload;
  for (const v1::LoadEngineResult& e : report.engines()) {
    SCOPED_TRACE(e.engine());
    EXPECT_EQ(e.failed(), 0);
    int64_t sum = 0;
    for (const auto& [kind, sent] : e.sent_by_workload()) {
      sum += sent;
      total_by_workload[kind] += sent;
    }
    EXPECT_EQ(sum, e.sent());
    // Every kind ran on every engine (fixed seed, ~5 of each per engine).
    for (const char* kind : {"mqar", "niah", "random"}) {
      ASSERT_TRUE(e.sent_by_workload().contains(kind)) << kind;
      EXPECT_GT(e.sent_by_workload().at(kind), 0) << kind;
    }
    EXPECT_EQ(e.sent_by_workload().size(), 3u);
    // mqar asks 4 queries, niah one needle, random none.
    EXPECT_EQ(e.probes(), 4 * e.sent_by_workload().at("mqar") +
                              e.sent_by_workload().at("niah"));
  }
  for (const auto& [kind, sent] : report.total().sent_by_workload()) {
    EXPECT_EQ(sent, total_by_workload[kind]) << kind;
  }
  EXPECT_EQ(report.total().sent_by_workload().size(), 3u);
  // round_robin spread the calls over both servers.
  for (const ServerProcess* server : {&first, &second}) {
    SCOPED_TRACE(server->address);
    EXPECT_GT(SumOfMetric(server->metrics_address, "trilemma_requests_total"),
              0);
  }
}

TEST_F(LoadEndToEndTest, FailuresAreCountedByStatus) {
  // 60000 tokens take seconds; the deadline (which ListEngines meets)
  // ends every request first.
  ProcessResult r =
      Client({"load", "--engines=attention", "--workload=random",
              "--prompt_tokens=4", "--output_tokens=60000", "--concurrency=4",
              "--requests=8", "--timeout=300ms", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::LoadReport report = ParseLoad(r.out);
  ExpectAccounted(report, 8);
  EXPECT_EQ(report.total().failed_by_status().at("DEADLINE_EXCEEDED"), 8);
  EXPECT_THAT(r.err, HasSubstr("requests failed"));

  // Requests still running when the drain deadline passes are cancelled,
  // and counted.
  r = Client({"load", "--engines=attention", "--workload=random",
              "--prompt_tokens=4", "--output_tokens=60000", "--concurrency=8",
              "--requests=8", "--drain_timeout=100ms", "--format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  report = ParseLoad(r.out);
  ExpectAccounted(report, 8);
  EXPECT_EQ(report.total().failed_by_status().at("CANCELLED"), 8);
}

TEST_F(LoadEndToEndTest, BadFlagsAreUsageErrors) {
  ProcessResult r = Client({"load", "--rate=5", "--concurrency=2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--rate and --concurrency"));
  r = Client({"load", "--workload=chat"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--workload"));
  r = Client({"load", "--engines=attention", "--pairs=300"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("keys of engine 'attention'"));
  r = Client({"sweep", "--contexts=0,x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--contexts[1]"));
}

TEST_F(LoadEndToEndTest, TinySweepWritesTheReportAndRendersIt) {
  const std::string dir = stem() + "_report";
  ProcessResult r =
      Client({"sweep", "--engines=attention,sw16,sw64,mamba", "--pairs=4,16,64",
              "--contexts=0,64", "--queries=8", "--seed=5", "--out=" + dir});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("N@90%"));
  EXPECT_THAT(
      r.out,
      HasSubstr("report: " +
                std::filesystem::absolute(dir + "/report.html").string()));
  for (const char* file :
       {"report.html", "recall_vs_facts.svg", "state_vs_context.svg",
        "cost_vs_context.svg", "triangle.svg", "sweep.csv", "sweep.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + file)) << file;
  }
  v1::SweepReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadFile(dir + "/sweep.json"), &report)
                  .ok());
  ASSERT_EQ(report.rows_size(), 4 * 3 * 2);
  ASSERT_EQ(report.summaries_size(), 4);
  for (const v1::SweepRow& row : report.rows()) {
    EXPECT_EQ(row.error(), "") << row.ShortDebugString();
    EXPECT_EQ(row.queries(), 8);
    EXPECT_EQ(row.context_tokens(), 2 * row.pairs() + row.filler());
  }
  const v1::SweepEngineSummary& attention = report.summaries(0);
  const v1::SweepEngineSummary& sw16 = report.summaries(1);
  const v1::SweepEngineSummary& mamba = report.summaries(3);
  EXPECT_EQ(attention.capacity_90(), 64);
  EXPECT_LT(sw16.capacity_90(), attention.capacity_90());
  EXPECT_GT(attention.state_exponent(), 0.5);
  EXPECT_LT(sw16.state_exponent(), 0.25);
  EXPECT_LT(mamba.state_exponent(), 0.25);
  // sweep.csv holds the same rows as sweep.json, one line each.
  const std::vector<std::string> lines =
      absl::StrSplit(ReadFile(dir + "/sweep.csv"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + report.rows_size());
  EXPECT_EQ(lines[0],
            "engine,family,pairs,filler,repeat,seed,queries,hits,recall,"
            "context_tokens,state_bytes,external_state_bytes,flops_per_token,"
            "ms_per_step,error");
  for (int i = 0; i < report.rows_size(); ++i) {
    const v1::SweepRow& row = report.rows(i);
    const std::vector<std::string> fields = absl::StrSplit(lines[1 + i], ',');
    ASSERT_EQ(fields.size(), 15u) << lines[1 + i];
    EXPECT_EQ(fields[0], row.engine());
    EXPECT_EQ(fields[2], absl::StrCat(row.pairs()));
    EXPECT_EQ(fields[7], absl::StrCat(row.hits()));
    EXPECT_EQ(fields[10], absl::StrCat(row.state_bytes()));
  }

  r = RunProcess({"/usr/bin/python3", TRILEMMA_RENDER_CHECK, dir,
                  "--screenshot=" + dir + "/screenshot.png",
                  "--min-engines=4"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace trilemma::testing
