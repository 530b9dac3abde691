// JSON parsing shared by the checkpoint readers (safetensors headers,
// config.json, model.safetensors.index.json): nlohmann::json with its
// exceptions turned into statuses and duplicate keys rejected.
//
// Example:
//   absl::StatusOr<nlohmann::json> j = ParseJson(text, "DIR/config.json");
//   if (!j.ok()) return j.status();  // "DIR/config.json: not valid JSON: ..."
//
// Internal to engines/weights/: the public headers keep nlohmann types out.
#ifndef TRILEMMA_ENGINES_WEIGHTS_JSON_UTIL_H_
#define TRILEMMA_ENGINES_WEIGHTS_JSON_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace trilemma {

// Parses `text` as one JSON value. INVALID_ARGUMENT "WHERE: not valid JSON:
// <parser message>" on a syntax error, invalid UTF-8 or a number out of range;
// "WHERE: duplicate key 'K'" when any object repeats a key (JSON leaves that
// undefined and parsers disagree on which value wins, so a file relying on it
// is ambiguous); "WHERE: nested deeper than 128 levels" or "more than
// 1000000 JSON values" (bounds far above real configs and indexes that keep
// a hostile file from costing gigabytes). Never throws.
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text,
                                         const std::string& where);
// The same with another bound on the number of values (a tokenizer.json
// holds one per vocab entry and merge: about 400k for Llama-3).
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text,
                                         const std::string& where,
                                         int64_t max_values);

// A JSON value for an error message: compact, invalid UTF-8 replaced, cut to
// about 60 characters.
std::string JsonForError(const nlohmann::json& value);

// A name from a file for an error message: in single quotes, control bytes
// replaced, cut to about 200 characters ('a.b.weight').
std::string NameForError(absl::string_view name);

// The JSON type of `value` in words ("a string", "an array", "null", ...).
std::string JsonTypeName(const nlohmann::json& value);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_JSON_UTIL_H_
