// The checkpoint manifest (common/checkpoint_manifest.h) and the server's
// --checkpoint_manifest (ResolveEngineSpecs): a valid manifest hosts every
// model under its name with its directory resolved against the manifest's
// folder; each malformed case is refused with INVALID_ARGUMENT naming the
// field (and, through the server, the file).
#include "common/checkpoint_manifest.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine_host.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;

constexpr char kValid[] = R"({"models": [
  {"name": "attention_mqar", "dir": "attention", "circuit": "attention",
   "family": "attention", "train_pairs": 64, "vocab": 512,
   "val_accuracy": 0.99, "train_seconds": 95.0, "seed": 1,
   "threads": 2, "notes": {"any": "thing"}},
  {"name": "mamba_mqar", "dir": "/abs/mamba", "circuit": "mamba",
   "train_pairs": 16}
]})";

TEST(CheckpointManifestTest, ParsesEveryFieldAndIgnoresUnknownKeys) {
  absl::StatusOr<v1::CheckpointManifest> m = ParseCheckpointManifest(kValid);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->models_size(), 2);
  const v1::ManifestModel& a = m->models(0);
  EXPECT_EQ(a.name(), "attention_mqar");
  EXPECT_EQ(a.dir(), "attention");
  EXPECT_EQ(a.circuit(), "attention");
  EXPECT_EQ(a.family(), "attention");
  EXPECT_EQ(a.train_pairs(), 64);
  EXPECT_EQ(a.vocab(), 512);
  EXPECT_DOUBLE_EQ(a.val_accuracy(), 0.99);
  EXPECT_DOUBLE_EQ(a.train_seconds(), 95.0);
  EXPECT_EQ(a.seed(), 1u);
  EXPECT_EQ(m->models(1).family(), "");
  EXPECT_EQ(ManifestModelDir("models/mqar/manifest.json", a),
            "models/mqar/attention");
  EXPECT_EQ(ManifestModelDir("manifest.json", a), "attention");
  EXPECT_EQ(ManifestModelDir("models/mqar/manifest.json", m->models(1)),
            "/abs/mamba");
}

// Each malformed manifest and the text its error must hold.
TEST(CheckpointManifestTest, EveryMalformedCaseNamesItsField) {
  const struct {
    const char* text;
    const char* names;
  } cases[] = {
      {"", "not a JSON checkpoint manifest"},
      {"not json", "not a JSON checkpoint manifest"},
      {"[1, 2]", "not a JSON checkpoint manifest"},
      {R"({"models": [{"name": 5}]})", "models[0].name"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c",
           "train_pairs": "many"}]})",
       "models[0].train_pairs"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c",
           "train_pairs": 1.5}]})",
       "models[0].train_pairs"},
      {R"({"models": "attention"})", "models"},
      {R"({"models": []})", "models: lists no model"},
      {R"({})", "models: lists no model"},
      {R"({"models": [{"dir": "d", "circuit": "c", "train_pairs": 1}]})",
       "models[0].name: required"},
      {R"({"models": [{"name": "a=b", "dir": "d", "circuit": "c",
           "train_pairs": 1}]})",
       "models[0].name: 'a=b' holds"},
      {R"({"models": [{"name": "a", "circuit": "c", "train_pairs": 1}]})",
       "models[0].dir: required"},
      {R"({"models": [{"name": "a", "dir": "d", "train_pairs": 1}]})",
       "models[0].circuit: required"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "a",
           "train_pairs": 1}]})",
       "models[0].circuit: names the model itself"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c"}]})",
       "models[0].train_pairs: must be >= 1, got 0"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c",
           "train_pairs": 4, "vocab": -1}]})",
       "models[0].vocab: must be >= 0, got -1"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c",
           "train_pairs": 4, "val_accuracy": 1.5}]})",
       "models[0].val_accuracy: must be in [0, 1], got 1.5"},
      {R"({"models": [{"name": "a", "dir": "d", "circuit": "c",
           "train_pairs": 4, "train_seconds": -3}]})",
       "models[0].train_seconds: must be >= 0, got -3"},
      {R"({"models": [
           {"name": "a", "dir": "d", "circuit": "c", "train_pairs": 4},
           {"name": "a", "dir": "e", "circuit": "c", "train_pairs": 4}]})",
       "models[1].name: 'a' is listed twice"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<v1::CheckpointManifest> m = ParseCheckpointManifest(c.text);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), HasSubstr(c.names));
  }
}

// A temporary folder holding manifests and model directories.
class ManifestFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
           absl::StrCat(
               "trilemma_manifest_", getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "models" / "attention");
    std::filesystem::create_directories(dir_ / "models" / "mamba");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path path = dir_ / "models" / name;
    std::ofstream(path) << text;
    return path.string();
  }

  static absl::StatusOr<std::vector<EngineSpec>> Resolve(
      std::vector<std::string> manifests) {
    return ResolveEngineSpecs({.engines = "",
                               .checkpoints = {},
                               .checkpoint_manifests = std::move(manifests),
                               .config_path = "",
                               .default_budget_bytes = int64_t{1} << 20});
  }

  std::filesystem::path dir_;
};

constexpr char kTwoModels[] = R"({"models": [
  {"name": "attention_mqar", "dir": "attention", "circuit": "attention",
   "train_pairs": 64},
  {"name": "mamba_mqar", "dir": "./mamba", "circuit": "mamba",
   "train_pairs": 16}]})";

TEST_F(ManifestFilesTest, HostsEveryModelAsACheckpointBesideThePresets) {
  const std::string path = Write("manifest.json", kTwoModels);
  absl::StatusOr<std::vector<EngineSpec>> specs = Resolve({path});
  ASSERT_TRUE(specs.ok()) << specs.status();
  std::vector<const EngineSpec*> checkpoints;
  bool preset = false;
  for (const EngineSpec& spec : *specs) {
    if (!spec.checkpoint.empty()) checkpoints.push_back(&spec);
    preset |= spec.name == "attention" && spec.checkpoint.empty();
  }
  EXPECT_TRUE(preset);
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0]->name, "attention_mqar");
  EXPECT_EQ(checkpoints[0]->checkpoint,
            (dir_ / "models" / "attention").string());
  EXPECT_EQ(checkpoints[1]->name, "mamba_mqar");
  EXPECT_EQ(checkpoints[1]->checkpoint, (dir_ / "models" / "mamba").string());
  EXPECT_EQ(checkpoints[1]->state_budget_bytes, int64_t{1} << 20);
}

TEST_F(ManifestFilesTest, ABadManifestNamesTheFileAndTheField) {
  const std::string missing = (dir_ / "models" / "none.json").string();
  absl::StatusOr<std::vector<EngineSpec>> specs = Resolve({missing});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(specs.status().message(), HasSubstr(missing));

  const std::string bad =
      Write("bad.json", R"({"models": [{"name": "x", "dir": "attention",
                    "circuit": "attention", "train_pairs": 0}]})");
  specs = Resolve({bad});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(specs.status().message(),
              HasSubstr(absl::StrCat("checkpoint_manifest: checkpoint "
                                     "manifest '",
                                     bad, "': models[0].train_pairs")));

  const std::string no_dir =
      Write("no_dir.json", R"({"models": [{"name": "x", "dir": "attention",
                       "circuit": "attention", "train_pairs": 4},
                       {"name": "y", "dir": "gone", "circuit": "mamba",
                        "train_pairs": 4}]})");
  specs = Resolve({no_dir});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(specs.status().message(),
              HasSubstr(absl::StrCat("checkpoint_manifest '", no_dir,
                                     "': models[1].dir: 'gone'")));
  EXPECT_THAT(specs.status().message(), HasSubstr("is not a directory"));
}

TEST_F(ManifestFilesTest, ANameAlreadyHostedIsRefused) {
  // A preset's name.
  const std::string preset = Write(
      "preset.json", R"({"models": [{"name": "attention", "dir": "attention",
                       "circuit": "mamba", "train_pairs": 4}]})");
  absl::StatusOr<std::vector<EngineSpec>> specs = Resolve({preset});
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(specs.status().message(),
              HasSubstr(absl::StrCat("checkpoint_manifest '", preset,
                                     "': models[0].name: engine name "
                                     "'attention' is already hosted")));
  // The same model in two manifests.
  const std::string a = Write("a.json", kTwoModels);
  const std::string b = Write("b.json", kTwoModels);
  specs = Resolve({a, b});
  ASSERT_FALSE(specs.ok());
  EXPECT_THAT(specs.status().message(),
              HasSubstr(absl::StrCat("checkpoint_manifest '", b,
                                     "': models[0].name: engine name "
                                     "'attention_mqar' is already hosted")));
}

}  // namespace
}  // namespace trilemma
