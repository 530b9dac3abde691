// The sweep's three layers (client/report/layers.h) on a synthetic
// SweepReport with trained rows: the bound's formula on EngineInfo figures,
// the per-architecture capacities, the printed table, layers.csv, and the
// layers drawn on the recall-vs-facts and triangle charts and in the HTML.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/common/table_printer.h"
#include "client/report/charts.h"
#include "client/report/html.h"
#include "client/report/layers.h"
#include "client/report/sweep_analysis.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client_load/csv_split.h"
#include "tests/client_load/xml_check.h"

namespace trilemma::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ParseXml;
using testing::XmlElement;

v1::EngineInfo Info(const std::string& name, const std::string& family,
                    int32_t vocab, int64_t fixed, int64_t per_token,
                    int64_t cap) {
  v1::EngineInfo info;
  info.set_name(name);
  info.set_family(family);
  info.mutable_shape()->set_vocab(vocab);
  info.set_state_bytes_fixed(fixed);
  info.set_state_bytes_per_token(per_token);
  info.set_state_bytes_cap(cap);
  return info;
}

v1::ManifestModel Model(const std::string& name, const std::string& circuit,
                        const std::string& family, int32_t train_pairs) {
  v1::ManifestModel m;
  m.set_name(name);
  m.set_dir(name);
  m.set_circuit(circuit);
  m.set_family(family);
  m.set_train_pairs(train_pairs);
  m.set_vocab(512);
  m.set_val_accuracy(0.97);
  m.set_train_seconds(42);
  return m;
}

// Two circuits and two trained models of the same architectures (the
// manifest names the attention one by its checkpoint layout, llama). Recall
// by N (any filler): attention keeps 1; attention_mqar 1 up to its train N 64,
// then 0.5; mamba (circuit) 0.5 from the start; mamba_mqar 0.96875 at its
// train N 8, then 0.5.
v1::SweepReport LayeredReport() {
  v1::SweepReport report;
  report.set_seed(3);
  report.set_repeats(1);
  report.set_queries(32);
  for (int32_t p : {8, 32, 128}) report.add_pairs(p);
  for (int64_t f : {0, 256}) report.add_contexts(f);
  *report.add_engines() = Info("attention", "attention", 8192, 512, 1024, 0);
  *report.add_engines() = Info("mamba", "mamba", 8192, 19456, 0, 19456);
  *report.add_engines() = Info("attention_mqar", "llama", 512, 256, 512, 0);
  *report.add_engines() = Info("mamba_mqar", "mamba", 512, 9728, 0, 9728);
  const std::map<std::string, std::vector<int32_t>> grid = {
      {"attention", {8, 32, 64, 128}},
      {"mamba", {8, 32, 128}},
      {"attention_mqar", {8, 32, 64, 128}},
      {"mamba_mqar", {8, 32, 128}}};
  for (const v1::EngineInfo& e : report.engines()) {
    for (int32_t p : grid.at(e.name())) {
      for (int64_t f : report.contexts()) {
        v1::SweepRow* row = report.add_rows();
        row->set_engine(e.name());
        row->set_family(e.family());
        row->set_pairs(p);
        row->set_filler(f);
        row->set_queries(32);
        int32_t hits = 32;
        if (e.name() == "attention_mqar" && p > 64) hits = 16;
        if (e.name() == "mamba") hits = 16;
        if (e.name() == "mamba_mqar") hits = p == 8 ? 31 : 16;
        row->set_hits(hits);
        row->set_recall(hits / 32.0);
        row->set_context_tokens(2 * p + f);
        row->set_state_bytes(InfoStateBytes(e, 2 * p + f));
        row->set_flops_per_token(1e6);
      }
    }
  }
  for (v1::SweepEngineSummary& s : SummarizeSweep(report)) {
    *report.add_summaries() = std::move(s);
  }
  *report.add_trained() = Model("attention_mqar", "attention", "llama", 64);
  *report.add_trained() = Model("mamba_mqar", "mamba", "mamba", 8);
  for (v1::SweepLayers& l : SweepLayersOf(report)) {
    *report.add_layers() = std::move(l);
  }
  return report;
}

TEST(SweepBoundTest, FixedStateIsOneConstantOverLog2Vocab) {
  const v1::EngineInfo mamba = Info("m", "mamba", 512, 9728, 0, 9728);
  for (int32_t pairs : {1, 16, 256}) {
    const v1::SweepBound b = StateBound(mamba, pairs);
    EXPECT_EQ(b.pairs(), pairs);
    EXPECT_EQ(b.context_tokens(), 2 * pairs);
    EXPECT_EQ(b.state_bits(), 8 * 9728);
    EXPECT_EQ(b.vocab(), 512);
    EXPECT_DOUBLE_EQ(b.facts(), 8 * 9728 / 9.0);
    EXPECT_FALSE(b.grows());
  }
}

TEST(SweepBoundTest, GrowingStateIsTakenAtTheContextThePairsOccupy) {
  const v1::EngineInfo attention = Info("a", "attention", 8192, 512, 1024, 0);
  const v1::SweepBound b = StateBound(attention, 128);
  EXPECT_EQ(b.context_tokens(), 256);
  EXPECT_EQ(b.state_bits(), 8 * (512 + 1024 * 256));
  EXPECT_DOUBLE_EQ(b.facts(), 8.0 * (512 + 1024 * 256) / 13.0);
  EXPECT_TRUE(b.grows());
}

TEST(SweepBoundTest, ACappedWindowStopsGrowingAndExternalBytesCount) {
  // A window: 200 fixed + 100 per token, capped at 1000 (8 tokens).
  const v1::EngineInfo window =
      Info("w", "sliding_window", 256, 200, 100, 1000);
  EXPECT_EQ(StateBound(window, 2).state_bits(), 8 * (200 + 100 * 4));
  EXPECT_TRUE(StateBound(window, 2).grows());
  EXPECT_EQ(StateBound(window, 10).state_bits(), 8 * 1000);
  EXPECT_FALSE(StateBound(window, 10).grows());
  EXPECT_DOUBLE_EQ(StateBound(window, 10).facts(), 8000.0 / 8.0);
  v1::EngineInfo memory = window;
  memory.set_external_bytes_per_token(64);
  EXPECT_EQ(StateBound(memory, 10).state_bits(), 8 * (1000 + 64 * 20));
  EXPECT_TRUE(StateBound(memory, 10).grows());
}

TEST(SweepLayersTest, EveryTrainedModelGetsItsThreeLayers) {
  const v1::SweepReport report = LayeredReport();
  ASSERT_EQ(report.layers_size(), 2);
  const v1::SweepLayers& attention = report.layers(0);
  // The architecture is the circuit's family, not the layout's.
  EXPECT_EQ(attention.family(), "attention");
  EXPECT_EQ(attention.trained_engine(), "attention_mqar");
  EXPECT_EQ(attention.circuit_engine(), "attention");
  EXPECT_EQ(attention.train_pairs(), 64);
  EXPECT_EQ(attention.trained_capacity_90(), 64);
  EXPECT_EQ(attention.circuit_capacity_90(), 128);
  EXPECT_DOUBLE_EQ(attention.trained_recall_at_train_pairs(), 1.0);
  EXPECT_DOUBLE_EQ(attention.circuit_recall_at_train_pairs(), 1.0);
  EXPECT_DOUBLE_EQ(attention.val_accuracy(), 0.97);
  // Bounds at the largest N measured for each engine (128 for both).
  EXPECT_EQ(attention.trained_bound().pairs(), 128);
  EXPECT_EQ(attention.trained_bound().state_bits(), 8 * (256 + 512 * 256));
  EXPECT_DOUBLE_EQ(attention.trained_bound().facts(),
                   8.0 * (256 + 512 * 256) / 9.0);
  EXPECT_EQ(attention.circuit_bound().state_bits(), 8 * (512 + 1024 * 256));

  const v1::SweepLayers& mamba = report.layers(1);
  EXPECT_EQ(mamba.trained_capacity_90(), 8);
  EXPECT_EQ(mamba.circuit_capacity_90(), 0);
  EXPECT_DOUBLE_EQ(mamba.trained_recall_at_train_pairs(), 31 / 32.0);
  EXPECT_DOUBLE_EQ(mamba.trained_bound().facts(), 8.0 * 9728 / 9.0);
  EXPECT_DOUBLE_EQ(mamba.circuit_bound().facts(), 8.0 * 19456 / 13.0);
  EXPECT_FALSE(mamba.trained_bound().grows());
}

TEST(SweepLayersTest, AModelWhoseEnginesWereNotSweptHasNoLayers) {
  v1::SweepReport report = LayeredReport();
  *report.add_trained() = Model("rwkv7_mqar", "rwkv7", "rwkv7", 16);
  EXPECT_EQ(SweepLayersOf(report).size(), 2u);
}

TEST(SweepLayersTest, TablePrintsTheThreeNumbersPerArchitecture) {
  const v1::SweepReport report = LayeredReport();
  const std::string table = FormatLayersTable(report);
  EXPECT_THAT(table, HasSubstr("capacity@90%: trained / circuit / bound"));
  const std::vector<std::string> lines =
      absl::StrSplit(table, '\n', absl::SkipEmpty());
  std::vector<std::string> rows;
  for (const std::string& line : lines) {
    if (absl::StrContains(line, "_mqar")) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 2u) << table;
  // attention: trained 64, circuit held at every N (>=128), bound 8*(256 +
  // 512*256)/9 = 117 k facts, growing.
  EXPECT_THAT(rows[0], HasSubstr(" 64 "));
  EXPECT_THAT(rows[0], HasSubstr(">=128"));
  EXPECT_THAT(rows[0], HasSubstr(FormatCount(8.0 * (256 + 512 * 256) / 9.0)));
  EXPECT_THAT(rows[0], HasSubstr("(grows)"));
  // mamba: trained 8, circuit below the smallest N, a fixed bound.
  EXPECT_THAT(rows[1], HasSubstr("<8"));
  EXPECT_THAT(rows[1], HasSubstr("0.969"));
  EXPECT_THAT(rows[1], HasSubstr(FormatCount(8.0 * 9728 / 9.0)));
  EXPECT_EQ(FormatLayersTable(v1::SweepReport()), "");
}

TEST(SweepLayersTest, CsvHoldsOneLinePerArchitecture) {
  const v1::SweepReport report = LayeredReport();
  const std::vector<std::string> lines =
      absl::StrSplit(FormatLayersCsv(report), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> header = testing::SplitCsvLine(lines[0]);
  ASSERT_EQ(header, LayersCsvColumns());
  ASSERT_EQ(header.size(), 20u);
  EXPECT_EQ(header[8], "trained_capacity_90");
  EXPECT_EQ(header[10], "trained_bound_facts");
  const std::vector<std::string> mamba = testing::SplitCsvLine(lines[2]);
  ASSERT_EQ(mamba.size(), header.size());
  EXPECT_EQ(mamba[1], "mamba_mqar");
  EXPECT_EQ(mamba[8], "8");
  EXPECT_EQ(mamba[9], "0");
  EXPECT_NEAR(std::stod(mamba[10]), 8.0 * 9728 / 9.0, 1e-3);
  EXPECT_EQ(mamba[11], absl::StrCat(8 * 9728));
  EXPECT_EQ(mamba[14], "false");
}

TEST(SweepLayersTest, RecallChartDrawsTrainedDashedAndTheCapacityStrip) {
  const v1::SweepReport report = LayeredReport();
  absl::StatusOr<XmlElement> svg = ParseXml(RecallVsFactsChart(report));
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(testing::FindByAttribute(*svg, "class", "layers").size(), 1u);
  EXPECT_EQ(testing::FindByAttribute(*svg, "class", "layer-row").size(), 2u);
  EXPECT_EQ(testing::FindByAttribute(*svg, "data-family", "mamba").size(), 1u);
  // A trained engine's line is dashed in its circuit's colour.
  std::map<std::string, const XmlElement*> by_label;
  for (const XmlElement* group :
       testing::FindByAttribute(*svg, "class", "series-group")) {
    for (const XmlElement& child : group->children) {
      if (child.name == "polyline") {
        by_label[group->attributes.at("data-label")] = &child;
      }
    }
  }
  ASSERT_EQ(by_label.size(), 4u);
  EXPECT_EQ(by_label["attention_mqar"]->attributes.count("stroke-dasharray"),
            1u);
  EXPECT_EQ(by_label["attention"]->attributes.count("stroke-dasharray"), 0u);
  EXPECT_EQ(by_label["attention_mqar"]->attributes.at("stroke"),
            by_label["attention"]->attributes.at("stroke"));
  EXPECT_NE(by_label["mamba_mqar"]->attributes.at("stroke"),
            by_label["attention"]->attributes.at("stroke"));

  v1::SweepReport plain = report;
  plain.clear_trained();
  plain.clear_layers();
  absl::StatusOr<XmlElement> without = ParseXml(RecallVsFactsChart(plain));
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(testing::FindByAttribute(*without, "class", "layers").empty());
}

TEST(SweepLayersTest, TriangleJoinsTrainedToCircuitAndListsTheLayers) {
  const v1::SweepReport report = LayeredReport();
  const std::string text = TriangleChart(report);
  absl::StatusOr<XmlElement> svg = ParseXml(text);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(testing::FindByAttribute(*svg, "class", "layer-link").size(), 2u);
  const std::vector<const XmlElement*> key =
      testing::FindByAttribute(*svg, "class", "layers-key");
  ASSERT_EQ(key.size(), 1u);
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "attention: 64 / &gt;=128 / ",
                        FormatCount(8.0 * (256 + 512 * 256) / 9.0), "+")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("mamba: 8 / &lt;8 / ",
                                     FormatCount(8.0 * 9728 / 9.0), "<")));
}

TEST(SweepLayersTest, HtmlHasTheLayersTableOnlyWithTrainedModels) {
  const v1::SweepReport report = LayeredReport();
  const std::string html = BuildSweepHtml(report, RenderSweepCharts(report));
  EXPECT_THAT(html, HasSubstr("id=\"layers\""));
  EXPECT_THAT(html, HasSubstr("capacity@90%: trained / circuit / bound"));
  EXPECT_THAT(html, HasSubstr("href=\"layers.csv\""));
  EXPECT_THAT(html, HasSubstr("<td class=\"l\">mamba_mqar</td>"));
  v1::SweepReport plain = report;
  plain.clear_trained();
  plain.clear_layers();
  EXPECT_THAT(BuildSweepHtml(plain, RenderSweepCharts(plain)),
              Not(HasSubstr("id=\"layers\"")));
}

}  // namespace
}  // namespace trilemma::client
