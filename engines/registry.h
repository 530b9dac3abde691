// The engine registry: engine families register a factory under their name;
// the server creates hosted engines from EngineSpecs without naming any.
//
// Example (in engines/attention/attention_engine.cc):
//   TRILEMMA_REGISTER_ENGINE_FAMILY("attention", CreateAttentionEngine);
// and in the server:
//   auto engine = CreateEngine({.name = "a1", .family = "attention"});
#ifndef TRILEMMA_ENGINES_REGISTRY_H_
#define TRILEMMA_ENGINES_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engines/engine.h"

namespace trilemma {

// A default-preset spec: hosted `name` with `knobs` (family is filled in at
// registration, the budget by the server).
inline EngineSpec PresetSpec(std::string name,
                             std::map<std::string, std::string> knobs = {}) {
  EngineSpec spec;
  spec.name = std::move(name);
  spec.knobs = std::move(knobs);
  return spec;
}

using EngineFactory =
    std::function<absl::StatusOr<std::unique_ptr<Engine>>(const EngineSpec&)>;

// A family's registration: its factory and the specs it is hosted with by
// default (one per preset, e.g. both kv_evict policies).
struct EngineFamily {
  std::string name;
  EngineFactory factory;
  std::vector<EngineSpec> default_specs;
  // Families hidden from the default set (e.g. the `null` benchmark engine).
  bool hidden = false;
  // Small knob sets the conformance suite (tests/engines) runs this family
  // with, beyond its default presets shrunk to d_model 32: pick ones that
  // exercise its state (windows that wrap, budgets that evict, depth > 1,
  // init=random) within ~100 tokens.
  std::vector<std::map<std::string, std::string>> conformance_knobs;
  // Where the family's presets appear in the default set: lower first. By
  // convention the triangle's corners come first and hybrids last.
  int display_order = 100;
};

class CheckpointDir;

// A checkpoint architecture: the Hugging Face `architectures` name a model
// directory's config.json gives (e.g. "LlamaForCausalLM") and the loader that
// builds an engine from such a directory. The loader keeps `dir` alive as
// long as the engine uses its mapped tensors.
using CheckpointLoader = std::function<absl::StatusOr<std::unique_ptr<Engine>>(
    const EngineSpec&, std::shared_ptr<CheckpointDir> dir)>;
struct CheckpointArchitecture {
  std::string hf_name;
  std::string family;  // the engine folder, reported in EngineInfo.family
  CheckpointLoader loader;
};

// Registers a checkpoint architecture (static initialisers, like families).
// REQUIRES: hf_name is not registered yet.
bool RegisterCheckpointArchitecture(CheckpointArchitecture architecture);

// The registered Hugging Face architecture names, sorted.
std::vector<std::string> SupportedCheckpointArchitectures();

// Registers a family. Called from static initialisers; not thread-safe with
// concurrent lookups (all registration happens before main).
// REQUIRES: the name is not registered yet.
bool RegisterEngineFamily(EngineFamily family);

// Every registered family, sorted by name.
std::vector<const EngineFamily*> RegisteredEngineFamilies();

// Creates an engine of spec.family. INVALID_ARGUMENT naming `family` when no
// such family is registered, or whatever the factory returns for bad knobs.
// With spec.checkpoint set, opens that model directory and dispatches on its
// config.json `architectures`: NOT_FOUND for a missing directory or file,
// INVALID_ARGUMENT naming the file for a bad one or an unsupported
// architecture (listing the supported ones).
absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineSpec& spec);

// The specs of every non-hidden family's default presets, in a stable order.
std::vector<EngineSpec> DefaultEngineSpecs();

}  // namespace trilemma

#define TRILEMMA_CONCAT_INNER_(a, b) a##b
#define TRILEMMA_CONCAT_(a, b) TRILEMMA_CONCAT_INNER_(a, b)
// Registers an EngineFamily at static-initialisation time.
#define TRILEMMA_REGISTER_ENGINE_FAMILY(...)           \
  [[maybe_unused]] static const bool TRILEMMA_CONCAT_( \
      trilemma_registered_family_, __LINE__) =         \
      ::trilemma::RegisterEngineFamily(__VA_ARGS__)

// Registers a CheckpointArchitecture at static-initialisation time.
#define TRILEMMA_REGISTER_CHECKPOINT_ARCHITECTURE(...) \
  [[maybe_unused]] static const bool TRILEMMA_CONCAT_( \
      trilemma_registered_architecture_, __LINE__) =   \
      ::trilemma::RegisterCheckpointArchitecture(__VA_ARGS__)

#endif  // TRILEMMA_ENGINES_REGISTRY_H_
