// Tables, cell formatters and JSON output of the client.
#include <algorithm>

#include "client/commands/engines.h"
#include "client/commands/generate.h"
#include "client/commands/recall.h"
#include "client/common/json_output.h"
#include "client/common/table_printer.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace trilemma::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TablePrinterTest, AlignsColumnsAndTrimsTrailingSpaces) {
  TablePrinter table({{"engine"}, {"recall", TablePrinter::kRight}, {"note"}});
  table.AddRow({"attention", "1.000", ""});
  table.AddRow({"sw", "0.25", "x"});
  EXPECT_EQ(table.ToString(),
            "engine     recall  note\n"
            "---------  ------  ----\n"
            "attention   1.000\n"
            "sw           0.25  x\n");
}

TEST(CellFormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(12 << 20), "12.0 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3.00 GiB");
  EXPECT_EQ(FormatBytes(int64_t{300} << 20), "300 MiB");
}

TEST(CellFormatTest, Counts) {
  EXPECT_EQ(FormatCount(950), "950");
  EXPECT_EQ(FormatCount(0.5), "0.5");
  EXPECT_EQ(FormatCount(12345), "12.3 k");
  EXPECT_EQ(FormatCount(4.19e6), "4.19 M");
  EXPECT_EQ(FormatCount(1.07e9), "1.07 G");
}

TEST(CellFormatTest, Corners) {
  v1::Corners corners;
  corners.set_efficient(true);
  corners.set_compact(true);
  EXPECT_EQ(FormatCorners(corners), "E C -");
  corners.Clear();
  corners.set_recall(true);
  EXPECT_EQ(FormatCorners(corners), "- - R");
}

v1::EngineInfo SampleEngine(const std::string& name,
                            const std::string& family) {
  v1::EngineInfo info;
  info.set_name(name);
  info.set_family(family);
  info.mutable_corners()->set_efficient(true);
  info.mutable_corners()->set_compact(true);
  info.mutable_shape()->set_d_model(128);
  info.mutable_shape()->set_layers(4);
  info.mutable_shape()->set_circuit_layers(1);
  info.mutable_shape()->set_heads(1);
  info.mutable_shape()->set_vocab(8192);
  info.mutable_shape()->set_window(256);
  info.set_state_bytes_fixed(0);
  info.set_state_bytes_per_token(1024);
  info.set_state_budget_bytes(int64_t{64} << 20);
  return info;
}

TEST(EnginesTableTest, OneRowPerEngineWithShapeAndCost) {
  v1::ListEnginesResponse response;
  *response.add_engines() = SampleEngine("sw256", "sliding_window");
  const std::string table = FormatEnginesTable(response);
  EXPECT_THAT(table, HasSubstr("engine"));
  EXPECT_THAT(table, HasSubstr("budget"));
  EXPECT_THAT(table, HasSubstr("sw256"));
  EXPECT_THAT(table, HasSubstr("sliding_window"));
  EXPECT_THAT(table, HasSubstr("E C -"));
  EXPECT_THAT(table, HasSubstr("4 (1 circuit)"));
  EXPECT_THAT(table, HasSubstr("1.00 KiB"));
  EXPECT_THAT(table, HasSubstr("64.0 MiB"));
  // Header, rule, one row.
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
}

v1::RecallReport SampleReport() {
  v1::RecallReport report;
  report.set_target("127.0.0.1:50051");
  report.set_seed(42);
  *report.add_engines() = SampleEngine("sw256", "sliding_window");
  v1::RecallRow* ok = report.add_rows();
  ok->set_engine("sw256");
  ok->set_family("sliding_window");
  ok->set_pairs(16);
  ok->set_queries(64);
  ok->set_hits(0);
  ok->set_recall(0);
  ok->set_context_tokens(32);
  ok->set_state_bytes(32768);
  ok->set_flops_per_token(2.5e6);
  ok->set_ms_per_step(0.25);
  v1::RecallRow* failed = report.add_rows();
  failed->set_engine("sw256");
  failed->set_family("sliding_window");
  failed->set_pairs(1024);
  failed->set_error("open: RESOURCE_EXHAUSTED: budget");
  return report;
}

TEST(RecallTableTest, RowsWithMeasuresErrorsAndSeed) {
  const std::string table = FormatRecallTable(SampleReport());
  EXPECT_THAT(table, HasSubstr("flops/token"));
  EXPECT_THAT(table, HasSubstr("ms/token"));
  EXPECT_THAT(table, HasSubstr("0.000"));
  EXPECT_THAT(table, HasSubstr("0/64"));
  EXPECT_THAT(table, HasSubstr("32.0 KiB"));
  EXPECT_THAT(table, HasSubstr("2.50 M"));
  EXPECT_THAT(table, HasSubstr("0.250"));
  EXPECT_THAT(table, HasSubstr("open: RESOURCE_EXHAUSTED: budget"));
  EXPECT_THAT(table, HasSubstr("seed 42"));
  // No external-tier column when no row has external state.
  EXPECT_THAT(table, Not(HasSubstr("external")));
}

TEST(JsonOutputTest, RecallReportRoundTripsWithDefaultFieldsPrinted) {
  const v1::RecallReport report = SampleReport();
  absl::StatusOr<std::string> json = ToJson(report);
  ASSERT_TRUE(json.ok()) << json.status();
  // Zero-valued fields appear so every row has every field.
  EXPECT_THAT(*json, HasSubstr("\"hits\": 0"));
  EXPECT_THAT(*json, HasSubstr("\"recall\": 0"));
  EXPECT_THAT(*json, HasSubstr("\"flopsPerToken\""));
  EXPECT_EQ(json->back(), '\n');
  v1::RecallReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(parsed, report));
}

TEST(GenerateSummaryTest, ShowsFinishCountsStateAndRecall) {
  v1::Summary summary;
  summary.set_finish_reason(v1::STATE_LIMIT);
  summary.set_detail("max_state_bytes 4096");
  summary.set_prompt_tokens(3);
  summary.set_generated_tokens(2);
  summary.set_context_tokens(5);
  summary.set_ttft_seconds(0.0015);
  summary.set_state_bytes(4096);
  summary.set_total_flops(2000000);
  summary.mutable_recall()->set_probed(true);
  summary.mutable_recall()->set_hit(false);
  summary.mutable_recall()->set_matched_tokens(1);
  summary.mutable_recall()->set_expected_tokens(2);
  const std::string text = FormatSummary(summary);
  EXPECT_THAT(text, HasSubstr("finish STATE_LIMIT (max_state_bytes 4096)"));
  EXPECT_THAT(text, HasSubstr("3 prompt + 2 generated, context 5"));
  EXPECT_THAT(text, HasSubstr("ttft 1.500 ms"));
  EXPECT_THAT(text, HasSubstr("4.00 KiB model"));
  EXPECT_THAT(text, HasSubstr("1.00 M per generated token"));
  EXPECT_THAT(text, HasSubstr("miss (1/2 tokens matched"));
}

}  // namespace
}  // namespace trilemma::client
