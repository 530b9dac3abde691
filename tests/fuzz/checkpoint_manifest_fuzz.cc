// Fuzz target: bytes -> the checkpoint manifest parser
// (common/checkpoint_manifest.h; the server's --checkpoint_manifest and the
// sweep's --trained_manifest) -> the model directory each entry resolves to.
//
// Traps when the parser accepts a manifest that breaks what it promises
// (no model, a model without name, dir or circuit, a duplicate name,
// train_pairs < 1, a value out of range) or reports an error that is not
// INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<trilemma::v1::CheckpointManifest> manifest =
      trilemma::ParseCheckpointManifest(text);
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    return 0;
  }
  if (manifest->models().empty()) __builtin_trap();
  std::set<std::string> names;
  for (const trilemma::v1::ManifestModel& m : manifest->models()) {
    if (m.name().empty() || m.dir().empty() || m.circuit().empty() ||
        m.train_pairs() < 1 || m.vocab() < 0 || !(m.val_accuracy() >= 0) ||
        !(m.val_accuracy() <= 1) || !(m.train_seconds() >= 0) ||
        !names.insert(m.name()).second) {
      __builtin_trap();
    }
    if (trilemma::ManifestModelDir("models/manifest.json", m).empty()) {
      __builtin_trap();
    }
  }
  return 0;
}
