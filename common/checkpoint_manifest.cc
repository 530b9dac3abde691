#include "common/checkpoint_manifest.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace trilemma {
namespace {

absl::Status FieldError(int index, absl::string_view field,
                        absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("models[", index, "].", field, ": ", why));
}

}  // namespace

absl::StatusOr<v1::CheckpointManifest> ParseCheckpointManifest(
    absl::string_view text) {
  v1::CheckpointManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  // The training script may record more than the schema (threads, sizes).
  options.ignore_unknown_fields = true;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      std::string{text}, &manifest, options);
  if (!parsed.ok()) {
    // protobuf names the field as "(models[0].name): ..." when it can.
    std::string why{parsed.message()};
    absl::string_view message = why;
    absl::ConsumePrefix(&message, ": ");
    // Its syntax errors go on with a quote of the text and a caret.
    message = message.substr(0, message.find('\n'));
    return absl::InvalidArgumentError(absl::StrCat(
        "not a JSON checkpoint manifest {\"models\": [...]}: ", message));
  }
  if (manifest.models().empty()) {
    return absl::InvalidArgumentError("models: lists no model");
  }
  std::set<std::string> names;
  for (int i = 0; i < manifest.models_size(); ++i) {
    const v1::ManifestModel& m = manifest.models(i);
    if (m.name().empty()) return FieldError(i, "name", "required");
    for (const char c : m.name()) {
      if (c == '=' || c == ',' || c <= ' ') {
        return FieldError(i, "name",
                          absl::StrCat("'", m.name(),
                                       "' holds '=', ',', a space or a "
                                       "control character"));
      }
    }
    if (!names.insert(m.name()).second) {
      return FieldError(i, "name",
                        absl::StrCat("'", m.name(), "' is listed twice"));
    }
    if (m.dir().empty()) return FieldError(i, "dir", "required");
    if (m.circuit().empty()) {
      return FieldError(i, "circuit",
                        "required (the built-in preset of the same "
                        "architecture, e.g. \"attention\")");
    }
    if (m.circuit() == m.name()) {
      return FieldError(i, "circuit", "names the model itself");
    }
    if (m.train_pairs() < 1) {
      return FieldError(i, "train_pairs",
                        absl::StrCat("must be >= 1, got ", m.train_pairs()));
    }
    if (m.vocab() < 0) {
      return FieldError(i, "vocab",
                        absl::StrCat("must be >= 0, got ", m.vocab()));
    }
    if (!(m.val_accuracy() >= 0 && m.val_accuracy() <= 1)) {
      return FieldError(
          i, "val_accuracy",
          absl::StrCat("must be in [0, 1], got ", m.val_accuracy()));
    }
    if (!(m.train_seconds() >= 0)) {
      return FieldError(i, "train_seconds",
                        absl::StrCat("must be >= 0, got ", m.train_seconds()));
    }
  }
  return manifest;
}

absl::StatusOr<v1::CheckpointManifest> ReadCheckpointManifest(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || std::filesystem::is_directory(path)) {
    return absl::NotFoundError(
        absl::StrCat("checkpoint manifest '", path, "': cannot read it"));
  }
  absl::StatusOr<v1::CheckpointManifest> manifest =
      ParseCheckpointManifest(text.str());
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(),
                        absl::StrCat("checkpoint manifest '", path,
                                     "': ", manifest.status().message()));
  }
  return manifest;
}

std::string ManifestModelDir(const std::string& manifest_path,
                             const v1::ManifestModel& model) {
  const std::filesystem::path dir(model.dir());
  if (dir.is_absolute()) return dir.lexically_normal().string();
  return (std::filesystem::path(manifest_path).parent_path() / dir)
      .lexically_normal()
      .string();
}

}  // namespace trilemma
