// End to end: trilemma-server hosting small circuits (d_model 32, vocab 512)
// plus the random-weight checkpoints of tests/checkpoints/make_checkpoints.py
// through --checkpoint_manifest, and `trilemma sweep --trained_manifest` on
// the same file: the table "capacity@90%: trained / circuit / bound" has a
// row per manifest model with its three numbers, measured through the
// server's recall probes, and each bound equals state bits / log2 V on the
// EngineInfo the server reports. Bad manifests stop the server (and the
// sweep) with the file and the field named.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
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
    name: "mamba"
    family: "mamba"
    knobs { key: "d_model" value: "32" }
    knobs { key: "vocab" value: "512" }
  }
)pb";

// Checkpoint cases (vocab 96) and the circuit each is compared with.
constexpr char kManifest[] = R"({"models": [
  {"name": "llama_mqar", "dir": "ckpt/llama_gqa", "circuit": "attention",
   "family": "attention", "train_pairs": 8, "vocab": 96},
  {"name": "neox_mqar", "dir": "ckpt/neox", "circuit": "attention",
   "family": "attention", "train_pairs": 4},
  {"name": "mamba_mqar", "dir": "ckpt/mamba", "circuit": "mamba",
   "family": "mamba", "train_pairs": 8, "val_accuracy": 0.5,
   "train_seconds": 12}]})";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The bound written out from EngineInfo's fields (not layers.h, which the
// sweep used): 8 * (min(cap, fixed + per_token * 2N) + external * 2N) bits
// over log2 V.
double ExpectedBoundFacts(const v1::EngineInfo& info, int32_t pairs) {
  const int64_t n = 2 * int64_t{pairs};
  int64_t model = info.state_bytes_fixed() + info.state_bytes_per_token() * n;
  if (info.state_bytes_cap() > 0)
    model = std::min(model, info.state_bytes_cap());
  const double bits =
      8.0 * static_cast<double>(model + info.external_bytes_per_token() * n);
  return bits / std::log2(static_cast<double>(info.shape().vocab()));
}

class LayersEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(TestTempDir(), "/trilemma_layers_", getpid()));
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    const ProcessResult made =
        RunProcess({"/usr/bin/python3", TRILEMMA_MAKE_CHECKPOINTS, "--out",
                    *dir_ + "/ckpt", "--case", "llama_gqa", "--case", "neox",
                    "--case", "mamba"});
    ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
    std::ofstream(*dir_ + "/engines.textproto") << kConfig;
    std::ofstream(Manifest()) << kManifest;
    server_ = new ServerProcess(StartServerProcess(
        TRILEMMA_SERVER_PATH,
        {"--metrics_listen=", "--config=" + *dir_ + "/engines.textproto",
         "--checkpoint_manifest=" + Manifest()},
        *dir_ + "/server.log"));
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_FALSE(server_->address.empty())
        << "trilemma-server did not start; log:\n"
        << server_->process->Log();
  }

  static std::string Manifest() { return *dir_ + "/manifest.json"; }

  static ProcessResult Client(std::vector<std::string> args) {
    args.insert(args.begin(),
                {TRILEMMA_CLIENT_PATH, "--target=" + server_->address});
    return RunProcess(args);
  }

  static std::string* dir_;
  static ServerProcess* server_;
};

std::string* LayersEndToEndTest::dir_ = nullptr;
ServerProcess* LayersEndToEndTest::server_ = nullptr;

TEST_F(LayersEndToEndTest, SweepPrintsAndWritesTheThreeLayersPerModel) {
  const std::string out = *dir_ + "/report";
  const ProcessResult r =
      Client({"sweep", "--trained_manifest=" + Manifest(), "--pairs=4,16,64",
              "--contexts=0,32", "--queries=8", "--seed=3", "--out=" + out});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("capacity@90%: trained / circuit / bound"));
  // The table: one row per manifest model, naming its circuit and train N
  // and holding the three numbers (trained, circuit, bound).
  const size_t table = r.out.find("capacity@90%: trained / circuit / bound");
  ASSERT_NE(table, std::string::npos) << r.out;
  std::map<std::string, std::vector<std::string>> table_rows;
  for (absl::string_view line : absl::StrSplit(r.out.substr(table), '\n')) {
    const std::vector<std::string> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() >= 9 && absl::EndsWith(fields[1], "_mqar")) {
      table_rows[fields[1]] = fields;
    }
  }
  ASSERT_EQ(table_rows.size(), 3u) << r.out;
  EXPECT_EQ(table_rows["llama_mqar"][2], "attention");
  EXPECT_EQ(table_rows["llama_mqar"][3], "8");
  EXPECT_EQ(table_rows["neox_mqar"][3], "4");
  EXPECT_EQ(table_rows["mamba_mqar"][2], "mamba");
  // circuit attention holds every N measured (64 the largest).
  EXPECT_EQ(table_rows["llama_mqar"][6], ">=64");

  v1::SweepReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadFile(out + "/sweep.json"), &report)
                  .ok());
  std::map<std::string, const v1::EngineInfo*> info;
  for (const v1::EngineInfo& e : report.engines()) info[e.name()] = &e;
  ASSERT_EQ(info.size(), 5u);
  ASSERT_EQ(report.trained_size(), 3);
  // Vocab 96 holds at most 48 pairs: N = 64 is skipped for the three
  // checkpoints at both fillers.
  EXPECT_EQ(report.skipped_cells(), 6);
  // Largest N measured per engine, and the rows at each train N.
  std::map<std::string, int32_t> largest;
  std::map<std::string, std::map<int32_t, int>> rows_at;
  for (const v1::SweepRow& row : report.rows()) {
    EXPECT_EQ(row.error(), "") << row.ShortDebugString();
    largest[row.engine()] = std::max(largest[row.engine()], row.pairs());
    ++rows_at[row.engine()][row.pairs()];
  }
  EXPECT_EQ(largest["llama_mqar"], 16);
  EXPECT_EQ(largest["attention"], 64);

  ASSERT_EQ(report.layers_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const v1::SweepLayers& l = report.layers(i);
    const v1::ManifestModel& m = report.trained(i);
    SCOPED_TRACE(l.trained_engine());
    EXPECT_EQ(l.trained_engine(), m.name());
    EXPECT_EQ(l.circuit_engine(), m.circuit());
    EXPECT_EQ(l.train_pairs(), m.train_pairs());
    // Both engines measured at the train N (both fillers).
    EXPECT_EQ(rows_at[m.name()][m.train_pairs()], 2);
    EXPECT_EQ(rows_at[m.circuit()][m.train_pairs()], 2);
    EXPECT_GE(l.trained_recall_at_train_pairs(), 0);
    EXPECT_GE(l.circuit_recall_at_train_pairs(), 0);
    // The bounds: the formula on the server's EngineInfo at the largest N.
    const v1::EngineInfo& trained = *info.at(m.name());
    const v1::EngineInfo& circuit = *info.at(m.circuit());
    EXPECT_EQ(trained.shape().vocab(), 96);
    EXPECT_EQ(l.trained_bound().pairs(), largest[m.name()]);
    EXPECT_EQ(l.trained_bound().vocab(), 96);
    EXPECT_NEAR(l.trained_bound().facts(),
                ExpectedBoundFacts(trained, largest[m.name()]),
                1e-9 * l.trained_bound().facts());
    EXPECT_EQ(l.circuit_bound().pairs(), largest[m.circuit()]);
    EXPECT_NEAR(l.circuit_bound().facts(),
                ExpectedBoundFacts(circuit, largest[m.circuit()]),
                1e-9 * l.circuit_bound().facts());
    EXPECT_GT(l.trained_bound().facts(), 0);
  }
  // The circuit attention (d 32, vocab 512) recalls every N measured; the
  // KV checkpoints' states grow with context, mamba's does not.
  EXPECT_EQ(report.layers(0).circuit_capacity_90(), 64);
  EXPECT_DOUBLE_EQ(report.layers(0).circuit_recall_at_train_pairs(), 1.0);
  EXPECT_TRUE(report.layers(0).trained_bound().grows());
  EXPECT_FALSE(report.layers(2).trained_bound().grows());
  EXPECT_DOUBLE_EQ(report.layers(2).val_accuracy(), 0.5);

  const std::vector<std::string> csv =
      absl::StrSplit(ReadFile(out + "/layers.csv"), '\n', absl::SkipEmpty());
  EXPECT_EQ(csv.size(), 4u);
  const std::string html = ReadFile(out + "/report.html");
  EXPECT_THAT(html, HasSubstr("id=\"layers\""));
  EXPECT_THAT(html, HasSubstr("class=\"layer-row\""));
  EXPECT_THAT(html, HasSubstr("class=\"layer-link\""));
}

TEST_F(LayersEndToEndTest, TheSweepRefusesAManifestTheServerDoesNotHost) {
  const std::string other = *dir_ + "/other.json";
  std::ofstream(other) << R"({"models": [{"name": "rwkv_mqar", "dir": "x",
                              "circuit": "attention", "train_pairs": 4}]})";
  ProcessResult r = Client({"sweep", "--trained_manifest=" + other, "--pairs=4",
                            "--contexts=0", "--out=" + *dir_ + "/unused"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--trained_manifest: models[0].name"));
  EXPECT_THAT(r.err, HasSubstr("'rwkv_mqar'"));

  const std::string bad = *dir_ + "/bad.json";
  std::ofstream(bad) << R"({"models": [{"name": "a", "dir": "d"}]})";
  r = Client({"sweep", "--trained_manifest=" + bad, "--pairs=4"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(bad));
  EXPECT_THAT(r.err, HasSubstr("models[0].circuit: required"));
}

TEST_F(LayersEndToEndTest, ABadManifestStopsTheServerNamingFileAndField) {
  const struct {
    const char* file;
    const char* text;
    const char* field;
  } cases[] = {
      {"syntax.json", "{\"models\": [", "not a JSON checkpoint manifest"},
      {"pairs.json",
       R"({"models": [{"name": "m", "dir": "ckpt/mamba", "circuit": "mamba",
          "train_pairs": -1}]})",
       "models[0].train_pairs"},
      {"dir.json",
       R"({"models": [{"name": "m", "dir": "ckpt/mamba", "circuit": "mamba",
          "train_pairs": 4}, {"name": "n", "dir": "ckpt/missing",
          "circuit": "mamba", "train_pairs": 4}]})",
       "models[1].dir"},
      {"clash.json",
       R"({"models": [{"name": "mamba", "dir": "ckpt/mamba",
          "circuit": "attention", "train_pairs": 4}]})",
       "models[0].name: engine name 'mamba' is already hosted"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = *dir_ + "/" + c.file;
    std::ofstream(path) << c.text;
    const ProcessResult r = RunProcess(
        {TRILEMMA_SERVER_PATH, "--listen=127.0.0.1:0",
         "--metrics_listen=", "--config=" + *dir_ + "/engines.textproto",
         "--checkpoint_manifest=" + path});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr(path));
    EXPECT_THAT(r.err, HasSubstr(c.field));
  }
}

}  // namespace
}  // namespace trilemma::testing
