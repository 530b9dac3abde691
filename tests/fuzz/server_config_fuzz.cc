// Fuzz target: bytes -> the protobuf text-format trilemma.v1.ServerConfig
// parser (--config) -> engine specs; specs of the `null` family are also
// created, so their knobs go through the shared knob parser. Real families
// are not built: their weights are sized by knobs, and creating them is
// what the engine conformance suite covers.
//
// Traps when the parser accepts a config and returns a spec it should have
// refused (no family, a negative budget) or reports an error that is not
// INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engines/registry.h"
#include "server/engine_host.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kDefaultBudget = 1 << 20;
  absl::StatusOr<std::vector<trilemma::EngineSpec>> specs =
      trilemma::ParseServerConfig(text, kDefaultBudget);
  if (!specs.ok()) {
    if (specs.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    return 0;
  }
  if (specs->empty()) __builtin_trap();
  for (const trilemma::EngineSpec& spec : *specs) {
    if (spec.family.empty() || spec.name.empty() ||
        spec.state_budget_bytes <= 0) {
      __builtin_trap();
    }
    if (spec.family != "null") continue;
    absl::StatusOr<std::unique_ptr<trilemma::Engine>> engine =
        trilemma::CreateEngine(spec);
    if (engine.ok()) {
      if ((*engine)->info().name() != spec.name) __builtin_trap();
    } else if (engine.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
  }
  return 0;
}
