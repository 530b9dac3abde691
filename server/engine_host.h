// EngineHost: the engines a server hosts, each with its scheduler thread and
// resolved metrics, built from EngineSpecs without naming any architecture.
//
// Which engines: by default every registered family's default presets
// (DefaultEngineSpecs); `--config=FILE` replaces that set with a protobuf
// text-format trilemma.v1.ServerConfig; `--engines=a,b` then keeps only the
// named ones (and may also name presets of hidden families, e.g. a benchmark
// engine).
//
// Example:
//   absl::StatusOr<std::vector<EngineSpec>> specs = ResolveEngineSpecs(
//       {.engines = "attention", .config_path = "",
//        .default_budget_bytes = int64_t{1} << 30});
//   auto host = EngineHost::Create(*specs, &metrics, SchedulerOptions{});
//   EngineScheduler* s = (*host)->Find("attention");
//
// Thread-safe: Find/engines are read-only after Create.
#ifndef TRILEMMA_SERVER_ENGINE_HOST_H_
#define TRILEMMA_SERVER_ENGINE_HOST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engines/engine.h"
#include "server/metrics.h"
#include "server/scheduler.h"

namespace trilemma {

struct EngineHostOptions {
  // Comma-separated hosted names to keep; empty keeps the whole set.
  std::string engines;
  // "NAME=DIR" checkpoint engines hosted beside the preset or config set
  // (--checkpoint; docs/checkpoints.md).
  std::vector<std::string> checkpoints;
  // Paths of checkpoint manifests (--checkpoint_manifest): every model of
  // each is hosted under its `name` as a --checkpoint would host it
  // (common/checkpoint_manifest.h, docs/trained-vs-circuit.md).
  std::vector<std::string> checkpoint_manifests;
  // Path of a text-format ServerConfig; empty hosts the default presets.
  std::string config_path;
  // Budget of engines that do not set their own.
  int64_t default_budget_bytes = int64_t{1} << 30;
};

// The specs to host. INVALID_ARGUMENT naming the field for a bad config, a
// --checkpoint value that is not NAME=DIR, a bad checkpoint manifest (named
// with its path and the field, e.g. "checkpoint_manifest 'm.json':
// models[1].dir: ... is not a directory"), an unknown --engines name, a
// duplicate name or a non-positive budget; NOT_FOUND for a missing config
// or manifest file.
absl::StatusOr<std::vector<EngineSpec>> ResolveEngineSpecs(
    const EngineHostOptions& options);

// Parses a text-format ServerConfig into specs (a budget of 0 takes
// `default_budget_bytes`; an empty name takes the family's).
absl::StatusOr<std::vector<EngineSpec>> ParseServerConfig(
    absl::string_view text, int64_t default_budget_bytes);

// Every value given to flag `name` on the command line, in order, in the
// forms --name=V, -name=V, --name V and -name V (absl keeps only the last).
std::vector<std::string> RepeatedFlagValues(int argc, char** argv,
                                            absl::string_view name);

class EngineHost {
 public:
  struct Hosted {
    std::unique_ptr<Engine> engine;
    EngineMetrics* metrics = nullptr;
    std::unique_ptr<EngineScheduler> scheduler;
  };

  // Creates every engine (factory errors pass through, prefixed with the
  // engine's name) and starts its scheduler. `metrics` must outlive the host.
  static absl::StatusOr<std::unique_ptr<EngineHost>> Create(
      const std::vector<EngineSpec>& specs, ServerMetrics* metrics,
      const SchedulerOptions& options);

  // Stops every scheduler before its engine is destroyed.
  ~EngineHost();

  // The scheduler of engine `name`, or null.
  EngineScheduler* Find(absl::string_view name) const;
  // Engine `name` with its scheduler and metrics, or null.
  const Hosted* FindHosted(absl::string_view name) const;
  // In configured order.
  const std::vector<std::unique_ptr<Hosted>>& engines() const {
    return engines_;
  }
  // "a, b, c", for error messages and the ready line.
  std::string NameList() const;

  void BeginDrain();
  bool Idle() const;
  // Ends everything still running (see EngineScheduler::Stop).
  void Stop();

 private:
  EngineHost() = default;

  std::vector<std::unique_ptr<Hosted>> engines_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_ENGINE_HOST_H_
