// The checkpoint manifest: a JSON file (the protobuf JSON mapping of
// trilemma.v1.CheckpointManifest) listing trained model directories, each
// with the engine name to host it under and the built-in preset of the same
// architecture. The server hosts every model of it
// (--checkpoint_manifest); `trilemma sweep --trained_manifest` pairs each
// trained engine with its circuit (docs/trained-vs-circuit.md). Both sides
// parse it here, so they agree on what a valid manifest is.
//
// Example:
//   absl::StatusOr<v1::CheckpointManifest> manifest =
//       ReadCheckpointManifest("models/mqar/manifest.json");
//   for (const v1::ManifestModel& m : manifest->models())
//     Host(m.name(), ManifestModelDir("models/mqar/manifest.json", m));
//
// Thread-safe (pure functions).
#ifndef TRILEMMA_COMMON_CHECKPOINT_MANIFEST_H_
#define TRILEMMA_COMMON_CHECKPOINT_MANIFEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trilemma/v1/manifest.pb.h"

namespace trilemma {

// Parses and checks a manifest's text. INVALID_ARGUMENT naming the field
// ("models[2].train_pairs: must be >= 1, got 0"): text that is not a JSON
// object of the schema, no model, a model without name, dir or circuit, a
// duplicate name, train_pairs < 1, vocab < 0, val_accuracy outside [0, 1]
// or train_seconds < 0. Keys the schema does not define are ignored.
absl::StatusOr<v1::CheckpointManifest> ParseCheckpointManifest(
    absl::string_view text);

// Reads and parses the file at `path`; every error message starts with
// "checkpoint manifest '<path>': ". NOT_FOUND when it cannot be read.
absl::StatusOr<v1::CheckpointManifest> ReadCheckpointManifest(
    const std::string& path);

// The model's directory: `model.dir()` resolved against the folder holding
// the manifest at `manifest_path` (absolute dirs are returned unchanged).
std::string ManifestModelDir(const std::string& manifest_path,
                             const v1::ManifestModel& model);

}  // namespace trilemma

#endif  // TRILEMMA_COMMON_CHECKPOINT_MANIFEST_H_
