#include "engines/registry.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/tokenizer/load.h"
#include "engines/weights/checkpoint_dir.h"
#include "engines/weights/hf_config.h"

namespace trilemma {
namespace {

std::map<std::string, EngineFamily>& Families() {
  static auto* families = new std::map<std::string, EngineFamily>();
  return *families;
}

std::map<std::string, CheckpointArchitecture>& Architectures() {
  static auto* architectures =
      new std::map<std::string, CheckpointArchitecture>();
  return *architectures;
}

absl::Status CheckNameAndBudget(const EngineSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("name: an engine needs a name");
  }
  if (spec.state_budget_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state_budget_bytes: must be positive, got ", spec.state_budget_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> CreateCheckpointEngine(
    const EngineSpec& spec) {
  absl::StatusOr<std::unique_ptr<CheckpointDir>> opened =
      CheckpointDir::Open(spec.checkpoint);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<CheckpointDir> dir = *std::move(opened);
  absl::StatusOr<HfConfig> config = dir->Config();
  if (!config.ok()) return config.status();
  const std::vector<std::string> names = config->StringList("architectures");
  if (absl::Status s = config->Finish(); !s.ok()) return s;
  for (const std::string& name : names) {
    auto it = Architectures().find(name);
    if (it == Architectures().end()) continue;
    EngineSpec resolved = spec;
    resolved.family = it->second.family;
    // The tokenizer first: a bad one fails before the weights are read.
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
        LoadTokenizerFromDir(spec.checkpoint);
    if (tokenizer.status().code() == absl::StatusCode::kUnimplemented) {
      // A kind of tokenizer not implemented: serve on ids, and say so.
      std::fprintf(stderr, "engine '%s': no tokenizer attached: %s\n",
                   spec.name.c_str(),
                   std::string(tokenizer.status().message()).c_str());
      tokenizer = std::unique_ptr<Tokenizer>();
    }
    if (!tokenizer.ok()) return tokenizer.status();
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        it->second.loader(resolved, std::move(dir));
    if (!engine.ok() || *tokenizer == nullptr) return engine;
    const int32_t vocab = (*engine)->info().shape().vocab();
    if ((*tokenizer)->vocab_size() > vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          (*tokenizer)->file(), ": the tokenizer has ",
          (*tokenizer)->vocab_size(), " ids but the model's vocab is ", vocab));
    }
    (*engine)->AttachTokenizer(*std::move(tokenizer));
    return engine;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(config->path(), ": architectures [",
                   absl::StrJoin(names, ", "), "] not supported; supported: ",
                   absl::StrJoin(SupportedCheckpointArchitectures(), ", ")));
}

}  // namespace

bool RegisterCheckpointArchitecture(CheckpointArchitecture architecture) {
  std::string name = architecture.hf_name;
  return Architectures().emplace(name, std::move(architecture)).second;
}

std::vector<std::string> SupportedCheckpointArchitectures() {
  std::vector<std::string> names;
  for (const auto& [name, architecture] : Architectures()) {
    names.push_back(name);
  }
  return names;
}

bool RegisterEngineFamily(EngineFamily family) {
  std::string name = family.name;
  for (EngineSpec& spec : family.default_specs) spec.family = name;
  return Families().emplace(name, std::move(family)).second;
}

std::vector<const EngineFamily*> RegisteredEngineFamilies() {
  std::vector<const EngineFamily*> out;
  for (const auto& [name, family] : Families()) out.push_back(&family);
  return out;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineSpec& spec) {
  if (!spec.checkpoint.empty()) {
    if (absl::Status s = CheckNameAndBudget(spec); !s.ok()) return s;
    return CreateCheckpointEngine(spec);
  }
  auto it = Families().find(spec.family);
  if (it == Families().end()) {
    std::vector<std::string> names;
    for (const auto& [name, family] : Families()) names.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("family: unknown engine family '", spec.family,
                     "'; registered: ", absl::StrJoin(names, ", ")));
  }
  if (absl::Status s = CheckNameAndBudget(spec); !s.ok()) return s;
  return it->second.factory(spec);
}

std::vector<EngineSpec> DefaultEngineSpecs() {
  std::vector<const EngineFamily*> families = RegisteredEngineFamilies();
  std::stable_sort(families.begin(), families.end(),
                   [](const EngineFamily* a, const EngineFamily* b) {
                     return a->display_order < b->display_order;
                   });
  std::vector<EngineSpec> specs;
  for (const EngineFamily* family : families) {
    if (family->hidden) continue;
    for (const EngineSpec& spec : family->default_specs) specs.push_back(spec);
  }
  return specs;
}

}  // namespace trilemma
