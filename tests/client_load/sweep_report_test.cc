// Renders a sweep report from synthetic rows and checks the files: the
// analysis (capacity, exponents, trajectories), the SVG charts (valid XML
// with the expected elements), report.html (self-contained, inlines every
// chart), sweep.csv and sweep.json; then opens report.html in headless
// Chromium.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/report/charts.h"
#include "client/report/html.h"
#include "client/report/sweep_analysis.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/client/subprocess.h"
#include "tests/client_load/csv_split.h"
#include "tests/client_load/xml_check.h"

namespace trilemma::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ParseXml;
using testing::XmlElement;

v1::EngineInfo Engine(const std::string& name, const std::string& family,
                      bool efficient, bool compact, bool recall,
                      const std::map<std::string, std::string>& knobs = {}) {
  v1::EngineInfo info;
  info.set_name(name);
  info.set_family(family);
  info.mutable_corners()->set_efficient(efficient);
  info.mutable_corners()->set_compact(compact);
  info.mutable_corners()->set_recall(recall);
  info.mutable_shape()->set_vocab(8192);
  for (auto& [k, v] : knobs) (*info.mutable_knobs())[k] = v;
  return info;
}

// Four engines whose numbers follow the triangle: attention keeps recall
// and grows; two sliding windows (a family trajectory over "window") and an
// SSM keep efficiency and compactness and lose recall past their capacity.
v1::SweepReport SyntheticReport() {
  v1::SweepReport report;
  report.set_target("127.0.0.1:50051");
  report.set_seed(7);
  report.set_repeats(1);
  report.set_queries(32);
  const std::vector<int32_t> pairs = {8, 32, 128, 512};
  const std::vector<int64_t> fillers = {0, 1024, 4096};
  for (int32_t p : pairs) report.add_pairs(p);
  for (int64_t f : fillers) report.add_contexts(f);
  *report.add_engines() = Engine("attention", "attention", false, false, true);
  *report.add_engines() = Engine("sw1024", "sliding_window", true, true, false,
                                 {{"window", "1024"}, {"d_model", "128"}});
  *report.add_engines() = Engine("sw256", "sliding_window", true, true, false,
                                 {{"window", "256"}, {"d_model", "128"}});
  *report.add_engines() = Engine("mamba", "mamba", true, true, false);
  for (const v1::EngineInfo& e : report.engines()) {
    const double window = e.family() == "sliding_window"
                              ? std::stod(e.knobs().at("window"))
                              : 1e18;
    for (int32_t p : pairs) {
      for (int64_t f : fillers) {
        v1::SweepRow* row = report.add_rows();
        row->set_engine(e.name());
        row->set_family(e.family());
        row->set_pairs(p);
        row->set_filler(f);
        row->set_queries(32);
        const int64_t context = 2 * p + f;
        row->set_context_tokens(context);
        double recall = 1;
        int64_t state = 2048 * context;
        double flops = 2.1e6 + 1024.0 * static_cast<double>(context);
        if (e.family() == "sliding_window") {
          recall = context <= window ? 1.0 : std::max(0.0, window / context);
          state = 2048 * std::min<int64_t>(context, window);
          flops = 2.1e6 + 1024.0 * std::min<double>(context, window);
        } else if (e.family() == "mamba") {
          recall = p <= 8 ? 1.0 : 8.0 / p;
          state = 20000;
          flops = 2.3e6;
        }
        row->set_hits(static_cast<int32_t>(recall * 32));
        row->set_recall(row->hits() / 32.0);
        row->set_state_bytes(state);
        row->set_flops_per_token(flops);
        row->set_ms_per_step(0.2 + flops / 1e7);
      }
    }
  }
  // A failed cell with a comma and a quote in its error.
  v1::SweepRow* failed = report.add_rows();
  failed->set_engine("mamba");
  failed->set_family("mamba");
  failed->set_pairs(4096);
  failed->set_error("open: RESOURCE_EXHAUSTED: budget \"mamba\", 1 GiB");
  for (v1::SweepEngineSummary& s : SummarizeSweep(report)) {
    *report.add_summaries() = std::move(s);
  }
  return report;
}

const v1::SweepEngineSummary& SummaryOf(const v1::SweepReport& report,
                                        const std::string& engine) {
  for (const v1::SweepEngineSummary& s : report.summaries()) {
    if (s.engine() == engine) return s;
  }
  ADD_FAILURE() << "no summary for " << engine;
  return report.summaries(0);
}

TEST(SweepAnalysisTest, CapacityAndExponentsFollowTheRows) {
  const v1::SweepReport report = SyntheticReport();
  ASSERT_EQ(report.summaries_size(), 4);
  const v1::SweepEngineSummary& attention = SummaryOf(report, "attention");
  EXPECT_EQ(attention.capacity_90(), 512);
  EXPECT_NEAR(attention.state_exponent(), 1.0, 0.1);
  EXPECT_NEAR(attention.compute_exponent(), 1.0, 0.1);
  EXPECT_TRUE(attention.measured().recall());
  EXPECT_FALSE(attention.measured().compact());
  EXPECT_FALSE(attention.measured().efficient());
  EXPECT_EQ(attention.max_context_tokens(), 2 * 512 + 4096);

  const v1::SweepEngineSummary& sw = SummaryOf(report, "sw256");
  EXPECT_EQ(sw.capacity_90(), 128);  // 256 tokens hold 128 pairs
  EXPECT_NEAR(sw.state_exponent(), 0.0, 0.05);
  EXPECT_TRUE(sw.measured().compact());
  EXPECT_TRUE(sw.measured().efficient());
  EXPECT_FALSE(sw.measured().recall());

  const v1::SweepEngineSummary& mamba = SummaryOf(report, "mamba");
  EXPECT_EQ(mamba.capacity_90(), 8);
  EXPECT_EQ(mamba.state_exponent(), 0.0);
  EXPECT_EQ(mamba.state_bytes_at_max_context(), 20000);
}

TEST(SweepAnalysisTest, GrowthExponentAndCapacity) {
  EXPECT_NEAR(GrowthExponent({{10, 100}, {100, 1000}, {1000, 10000}}), 1.0,
              0.05);
  EXPECT_NEAR(GrowthExponent({{10, 10}, {100, 1000}, {1000, 1e5}}), 2.0, 0.05);
  // A constant readout does not hide the linear part (the direct log-log
  // slope here would be ~0.5).
  EXPECT_NEAR(GrowthExponent({{16, 2e6 + 512 * 16},
                              {1024, 2e6 + 512 * 1024},
                              {4096, 2e6 + 512 * 4096}}),
              1.0, 0.05);
  EXPECT_EQ(GrowthExponent({{10, 5}, {1000, 5}}), 0);
  EXPECT_EQ(GrowthExponent({{10, 100}, {1000, 101}}), 0);  // < 5%
  EXPECT_EQ(GrowthExponent({{10, 5}}), 0);
  EXPECT_EQ(Capacity90({{8, 1}, {16, 0.95}, {32, 0.5}, {64, 0.95}}), 16);
  EXPECT_EQ(Capacity90({{8, 0.5}, {16, 1}}), 0);
}

TEST(SweepAnalysisTest, FamiliesWithSeveralKnobsAreTrajectoriesInKnobOrder) {
  const v1::SweepReport report = SyntheticReport();
  const std::vector<v1::EngineInfo> engines(report.engines().begin(),
                                            report.engines().end());
  const std::vector<Trajectory> trajectories = FamilyTrajectories(engines);
  ASSERT_EQ(trajectories.size(), 1u);
  EXPECT_EQ(trajectories[0].family, "sliding_window");
  EXPECT_EQ(trajectories[0].knob, "window");
  // Numeric order: 256 before 1024 (not string order).
  EXPECT_EQ(trajectories[0].members, (std::vector<int>{2, 1}));
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/trilemma_sweep_report_",
                      getpid());
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class SweepReportFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TempDir());
    std::filesystem::remove_all(*dir_);
    absl::StatusOr<std::string> html =
        WriteSweepReport(SyntheticReport(), *dir_ + "/report");
    ASSERT_TRUE(html.ok()) << html.status();
    EXPECT_EQ(
        *html,
        std::filesystem::absolute(*dir_ + "/report/report.html").string());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::filesystem::path File(const std::string& name) {
    return std::filesystem::path(*dir_) / "report" / name;
  }
  static std::string* dir_;
};

std::string* SweepReportFilesTest::dir_ = nullptr;

TEST_F(SweepReportFilesTest, ChartsAreValidSvgWithTheirElements) {
  const struct {
    const char* file;
    const char* id;
    int min_polylines;
  } charts[] = {{"recall_vs_facts.svg", "recall-vs-facts", 4},
                {"state_vs_context.svg", "state-vs-context", 4},
                {"cost_vs_context.svg", "cost-vs-context", 8},
                {"triangle.svg", "triangle", 1}};
  for (const auto& chart : charts) {
    SCOPED_TRACE(chart.file);
    const std::string text = ReadFile(File(chart.file));
    absl::StatusOr<XmlElement> svg = ParseXml(text);
    ASSERT_TRUE(svg.ok()) << svg.status();
    EXPECT_EQ(svg->name, "svg");
    EXPECT_EQ(svg->attributes["xmlns"], "http://www.w3.org/2000/svg");
    EXPECT_EQ(svg->attributes["id"], chart.id);
    EXPECT_FALSE(svg->attributes["viewBox"].empty());
    EXPECT_EQ(testing::CountElements(*svg, "title") >= 1, true);
    EXPECT_GE(testing::CountElements(*svg, "polyline"), chart.min_polylines);
    EXPECT_FALSE(testing::FindByAttribute(*svg, "class", "axes").empty());
    EXPECT_FALSE(testing::FindByAttribute(*svg, "class", "legend").empty());
    EXPECT_GE(testing::CountElements(*svg, "text"), 10);
  }
  absl::StatusOr<XmlElement> recall =
      ParseXml(ReadFile(File("recall_vs_facts.svg")));
  ASSERT_TRUE(recall.ok());
  // One line per engine and a capacity ring for each engine with one.
  EXPECT_EQ(testing::FindByAttribute(*recall, "class", "series").size(), 4u);
  EXPECT_EQ(testing::FindByAttribute(*recall, "class", "capacity").size(), 4u);
  EXPECT_EQ(testing::FindByAttribute(*recall, "data-label", "sw256").size(),
            1u);
  absl::StatusOr<XmlElement> triangle =
      ParseXml(ReadFile(File("triangle.svg")));
  ASSERT_TRUE(triangle.ok());
  EXPECT_EQ(testing::FindByAttribute(*triangle, "class", "engine-point").size(),
            4u);
  EXPECT_EQ(testing::FindByAttribute(*triangle, "class", "trajectory").size(),
            1u);
  EXPECT_EQ(testing::FindByAttribute(*triangle, "data-label",
                                     "sliding_window: window")
                .size(),
            1u);
}

TEST_F(SweepReportFilesTest, HtmlInlinesEveryChartAndLoadsNothing) {
  const std::string html = ReadFile(File("report.html"));
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  for (const char* id :
       {"recall-vs-facts", "state-vs-context", "cost-vs-context", "triangle"}) {
    EXPECT_THAT(html, HasSubstr(absl::StrCat("id=\"", id, "\""))) << id;
  }
  for (const char* file :
       {"recall_vs_facts.svg", "state_vs_context.svg", "cost_vs_context.svg",
        "triangle.svg", "sweep.csv", "sweep.json"}) {
    EXPECT_THAT(html, HasSubstr(absl::StrCat("href=\"", file, "\""))) << file;
    EXPECT_TRUE(std::filesystem::exists(File(file))) << file;
  }
  // Self-contained: no script, stylesheet link, import, remote URL or font.
  for (const char* external : {"<script", "<link", "@import", "url(",
                               "src=", "https:", "@font-face"}) {
    EXPECT_THAT(html, Not(HasSubstr(external))) << external;
  }
  // Every inlined chart is itself well-formed XML.
  int inlined = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos;
       at = html.find("<svg", at + 1)) {
    const size_t end = html.find("</svg>", at);
    ASSERT_NE(end, std::string::npos);
    EXPECT_TRUE(ParseXml(html.substr(at, end + 6 - at)).ok());
    ++inlined;
  }
  EXPECT_EQ(inlined, 4);
  // The numbers behind the charts, and the failed cell's error.
  EXPECT_THAT(html, HasSubstr("id=\"rows\""));
  EXPECT_THAT(html, HasSubstr("id=\"summary\""));
  EXPECT_THAT(html, HasSubstr("budget &quot;mamba&quot;"));
}

TEST_F(SweepReportFilesTest, CsvAndJsonHoldEveryRow) {
  const v1::SweepReport report = SyntheticReport();
  const std::string csv = ReadFile(File("sweep.csv"));
  const std::vector<std::string> lines =
      absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + report.rows_size());
  // The columns, written out (not SweepCsvColumns(), which wrote the file).
  const std::vector<std::string> header = {
      "engine",          "family",      "pairs",
      "filler",          "repeat",      "seed",
      "queries",         "hits",        "recall",
      "context_tokens",  "state_bytes", "external_state_bytes",
      "flops_per_token", "ms_per_step", "error"};
  ASSERT_EQ(testing::SplitCsvLine(lines[0]), header);
  // Every line is its row, field by field.
  for (int i = 0; i < report.rows_size(); ++i) {
    const v1::SweepRow& row = report.rows(i);
    SCOPED_TRACE(row.ShortDebugString());
    const std::vector<std::string> fields = testing::SplitCsvLine(lines[1 + i]);
    ASSERT_EQ(fields.size(), header.size()) << lines[1 + i];
    EXPECT_EQ(fields[0], row.engine());
    EXPECT_EQ(fields[1], row.family());
    EXPECT_EQ(fields[2], absl::StrCat(row.pairs()));
    EXPECT_EQ(fields[3], absl::StrCat(row.filler()));
    EXPECT_EQ(fields[4], absl::StrCat(row.repeat()));
    EXPECT_EQ(fields[5], absl::StrCat(row.seed()));
    EXPECT_EQ(fields[6], absl::StrCat(row.queries()));
    EXPECT_EQ(fields[7], absl::StrCat(row.hits()));
    double recall = -1, flops = -1, ms = -1;
    ASSERT_TRUE(absl::SimpleAtod(fields[8], &recall)) << fields[8];
    EXPECT_NEAR(recall, row.recall(), 1e-9);
    EXPECT_EQ(fields[9], absl::StrCat(row.context_tokens()));
    EXPECT_EQ(fields[10], absl::StrCat(row.state_bytes()));
    EXPECT_EQ(fields[11], absl::StrCat(row.external_state_bytes()));
    ASSERT_TRUE(absl::SimpleAtod(fields[12], &flops)) << fields[12];
    EXPECT_NEAR(flops, row.flops_per_token(), 1e-6 * row.flops_per_token());
    ASSERT_TRUE(absl::SimpleAtod(fields[13], &ms)) << fields[13];
    EXPECT_NEAR(ms, row.ms_per_step(), 1e-9 + 1e-6 * row.ms_per_step());
    EXPECT_EQ(fields[14], row.error());
  }
  const std::vector<std::string> first = testing::SplitCsvLine(lines[1]);
  EXPECT_EQ(first[0], "attention");
  EXPECT_EQ(first[2], "8");
  EXPECT_EQ(first[3], "0");
  EXPECT_EQ(testing::SplitCsvLine(lines.back()).back(),
            "open: RESOURCE_EXHAUSTED: budget \"mamba\", 1 GiB");

  v1::SweepReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadFile(File("sweep.json")), &parsed)
                  .ok());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(parsed, report));
}

TEST_F(SweepReportFilesTest, RendersInHeadlessChromium) {
  const std::string shot = *dir_ + "/report.png";
  trilemma::testing::ProcessResult r = trilemma::testing::RunProcess(
      {"/usr/bin/python3", TRILEMMA_RENDER_CHECK, *dir_ + "/report",
       "--screenshot=" + shot, "--min-engines=4"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("OK"));
}

}  // namespace
}  // namespace trilemma::client
