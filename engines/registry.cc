#include "engines/registry.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trilemma {
namespace {

std::map<std::string, EngineFamily>& Families() {
  static auto* families = new std::map<std::string, EngineFamily>();
  return *families;
}

}  // namespace

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
  auto it = Families().find(spec.family);
  if (it == Families().end()) {
    std::vector<std::string> names;
    for (const auto& [name, family] : Families()) names.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("family: unknown engine family '", spec.family,
                     "'; registered: ", absl::StrJoin(names, ", ")));
  }
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("name: an engine needs a name");
  }
  if (spec.state_budget_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state_budget_bytes: must be positive, got ", spec.state_budget_bytes));
  }
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
