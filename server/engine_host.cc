#include "server/engine_host.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/checkpoint_manifest.h"
#include "engines/registry.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {
namespace {

// Collects a parser's first error with its position.
class ConfigErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// Every registered family's default presets, hidden families included.
std::vector<EngineSpec> AllPresetSpecs() {
  std::vector<EngineSpec> specs = DefaultEngineSpecs();
  for (const EngineFamily* family : RegisteredEngineFamilies()) {
    if (!family->hidden) continue;
    for (const EngineSpec& spec : family->default_specs) specs.push_back(spec);
  }
  return specs;
}

}  // namespace

absl::StatusOr<std::vector<EngineSpec>> ParseServerConfig(
    absl::string_view text, int64_t default_budget_bytes) {
  v1::ServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  ConfigErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string{text}, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: not a text-format trilemma.v1.ServerConfig: ",
                     errors.first()));
  }
  if (config.engines().empty()) {
    return absl::InvalidArgumentError("config.engines: lists no engine");
  }
  std::vector<EngineSpec> specs;
  for (int i = 0; i < config.engines_size(); ++i) {
    const v1::EngineConfig& e = config.engines(i);
    const std::string field = absl::StrCat("config.engines[", i, "]");
    if (e.family().empty() == e.checkpoint().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, e.family().empty()
                     ? ".family: required (or a checkpoint directory)"
                     : ".checkpoint: a checkpoint engine takes its family "
                       "from config.json; leave family empty"));
    }
    if (!e.checkpoint().empty() && e.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: required for a checkpoint engine"));
    }
    if (e.state_budget_bytes() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".state_budget_bytes: must be >= 0, got ",
                       e.state_budget_bytes()));
    }
    EngineSpec spec;
    spec.name = e.name().empty() ? e.family() : e.name();
    spec.family = e.family();
    spec.checkpoint = e.checkpoint();
    spec.knobs.insert(e.knobs().begin(), e.knobs().end());
    spec.state_budget_bytes = e.state_budget_bytes() > 0
                                  ? e.state_budget_bytes()
                                  : default_budget_bytes;
    specs.push_back(std::move(spec));
  }
  return specs;
}

absl::StatusOr<std::vector<EngineSpec>> ResolveEngineSpecs(
    const EngineHostOptions& options) {
  if (options.default_budget_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("state_budget_bytes: must be positive, got ",
                     options.default_budget_bytes));
  }
  std::vector<EngineSpec> set;
  if (!options.config_path.empty()) {
    std::ifstream in(options.config_path);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("config: cannot read '", options.config_path, "'"));
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<EngineSpec>> parsed =
        ParseServerConfig(text.str(), options.default_budget_bytes);
    if (!parsed.ok()) return parsed.status();
    set = *std::move(parsed);
  } else {
    set = AllPresetSpecs();
    for (EngineSpec& spec : set) {
      spec.state_budget_bytes = options.default_budget_bytes;
    }
  }

  // Checkpoint engines: the --checkpoint flags, then every manifest's models;
  // `origin` prefixes an error about one of them.
  struct CheckpointEngine {
    std::string origin;
    std::string name;
    std::string dir;
  };
  std::vector<CheckpointEngine> checkpoints;
  for (const std::string& flag : options.checkpoints) {
    const size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: expected NAME=DIR, got '", flag, "'"));
    }
    checkpoints.push_back(
        {"checkpoint", flag.substr(0, eq), flag.substr(eq + 1)});
  }
  for (const std::string& path : options.checkpoint_manifests) {
    absl::StatusOr<v1::CheckpointManifest> manifest =
        ReadCheckpointManifest(path);
    if (!manifest.ok()) {
      return absl::Status(
          manifest.status().code(),
          absl::StrCat("checkpoint_manifest: ", manifest.status().message()));
    }
    for (int i = 0; i < manifest->models_size(); ++i) {
      const v1::ManifestModel& model = manifest->models(i);
      const std::string origin =
          absl::StrCat("checkpoint_manifest '", path, "': models[", i, "]");
      const std::string dir = ManifestModelDir(path, model);
      std::error_code error;
      if (!std::filesystem::is_directory(dir, error)) {
        return absl::InvalidArgumentError(absl::StrCat(origin, ".dir: '",
                                                       model.dir(), "' (", dir,
                                                       ") is not a directory"));
      }
      checkpoints.push_back({absl::StrCat(origin, ".name"), model.name(), dir});
    }
  }
  for (CheckpointEngine& checkpoint : checkpoints) {
    for (const EngineSpec& other : set) {
      if (other.name == checkpoint.name) {
        return absl::InvalidArgumentError(absl::StrCat(
            checkpoint.origin, ": engine name '", checkpoint.name,
            "' is already hosted (a built-in preset, a config engine, a "
            "--checkpoint or a manifest model); choose another name"));
      }
    }
    EngineSpec spec;
    spec.name = std::move(checkpoint.name);
    spec.checkpoint = std::move(checkpoint.dir);
    spec.state_budget_bytes = options.default_budget_bytes;
    set.push_back(std::move(spec));
  }

  std::vector<EngineSpec> specs;
  if (options.engines.empty()) {
    if (options.config_path.empty()) {
      // Hidden families only when named.
      std::set<std::string> hidden;
      for (const EngineFamily* f : RegisteredEngineFamilies()) {
        if (f->hidden) hidden.insert(f->name);
      }
      for (EngineSpec& spec : set) {
        if (!hidden.contains(spec.family)) specs.push_back(std::move(spec));
      }
    } else {
      specs = std::move(set);
    }
  } else {
    for (absl::string_view name :
         absl::StrSplit(options.engines, ',', absl::SkipWhitespace())) {
      name = absl::StripAsciiWhitespace(name);
      auto it = std::find_if(set.begin(), set.end(), [&](const EngineSpec& s) {
        return s.name == name;
      });
      if (it == set.end()) {
        std::vector<std::string> known;
        for (const EngineSpec& s : set) known.push_back(s.name);
        return absl::InvalidArgumentError(
            absl::StrCat("engines: no engine named '", name,
                         "'; available: ", absl::StrJoin(known, ", ")));
      }
      specs.push_back(*it);
    }
  }
  std::set<std::string> names;
  for (const EngineSpec& spec : specs) {
    if (!names.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "engines: engine name '", spec.name, "' is hosted twice"));
    }
  }
  if (specs.empty()) {
    return absl::InvalidArgumentError("engines: no engine to host");
  }
  return specs;
}

std::vector<std::string> RepeatedFlagValues(int argc, char** argv,
                                            absl::string_view name) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (!absl::ConsumePrefix(&arg, name)) continue;
    if (absl::ConsumePrefix(&arg, "=")) {
      values.emplace_back(arg);
    } else if (arg.empty() && i + 1 < argc) {
      values.emplace_back(argv[++i]);
    }
  }
  return values;
}

absl::StatusOr<std::unique_ptr<EngineHost>> EngineHost::Create(
    const std::vector<EngineSpec>& specs, ServerMetrics* metrics,
    const SchedulerOptions& options) {
  std::unique_ptr<EngineHost> host(new EngineHost());
  for (const EngineSpec& spec : specs) {
    if (host->Find(spec.name) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "engines: engine name '", spec.name, "' is hosted twice"));
    }
    absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(spec);
    if (!engine.ok()) {
      return absl::Status(engine.status().code(),
                          absl::StrCat("engine '", spec.name,
                                       "': ", engine.status().message()));
    }
    auto hosted = std::make_unique<Hosted>();
    hosted->engine = *std::move(engine);
    hosted->metrics = &metrics->ForEngine(hosted->engine->info());
    hosted->scheduler = std::make_unique<EngineScheduler>(
        hosted->engine.get(), hosted->metrics, options);
    host->engines_.push_back(std::move(hosted));
  }
  return host;
}

EngineHost::~EngineHost() { Stop(); }

EngineScheduler* EngineHost::Find(absl::string_view name) const {
  const Hosted* hosted = FindHosted(name);
  return hosted == nullptr ? nullptr : hosted->scheduler.get();
}

const EngineHost::Hosted* EngineHost::FindHosted(absl::string_view name) const {
  for (const auto& hosted : engines_) {
    if (hosted->engine->info().name() == name) return hosted.get();
  }
  return nullptr;
}

std::string EngineHost::NameList() const {
  std::vector<std::string> names;
  for (const auto& hosted : engines_) {
    names.push_back(hosted->engine->info().name());
  }
  return absl::StrJoin(names, ", ");
}

void EngineHost::BeginDrain() {
  for (const auto& hosted : engines_) hosted->scheduler->BeginDrain();
}

bool EngineHost::Idle() const {
  for (const auto& hosted : engines_) {
    if (!hosted->scheduler->Idle()) return false;
  }
  return true;
}

void EngineHost::Stop() {
  for (const auto& hosted : engines_) hosted->scheduler->Stop();
}

}  // namespace trilemma
