// Knobs: an engine preset's parameters, given as strings (from flags or the
// text-format config) and read with type, range and "unknown knob" checks.
//
// Example:
//   Knobs knobs(spec.knobs);
//   int d = knobs.Int("d_model", 128, 8, 4096);
//   std::string init = knobs.Choice("init", "circuit", {"circuit", "random"});
//   if (absl::Status s = knobs.Finish(); !s.ok()) return s;
//
// The first bad or unknown knob becomes an INVALID_ARGUMENT from Finish()
// naming it; readers return the default meanwhile. Not thread-safe.
#ifndef TRILEMMA_ENGINES_COMMON_KNOBS_H_
#define TRILEMMA_ENGINES_COMMON_KNOBS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engines/state/kv_format.h"
#include "trilemma/v1/engine_info.pb.h"

namespace trilemma {

class Knobs {
 public:
  explicit Knobs(std::map<std::string, std::string> given)
      : given_(std::move(given)) {}

  int64_t Int(const std::string& name, int64_t def, int64_t min, int64_t max);
  double Float(const std::string& name, double def, double min, double max);
  std::string Choice(const std::string& name, const std::string& def,
                     const std::vector<std::string>& allowed);

  // OK, or INVALID_ARGUMENT for the first bad value or any knob never read.
  absl::Status Finish() const;

  // Every knob read, with its effective value (given or default).
  const std::map<std::string, std::string>& effective() const {
    return effective_;
  }

  // Copies effective() into info->knobs, so ListEngines shows how the
  // engine was built.
  void RecordIn(v1::EngineInfo* info) const {
    for (const auto& [name, value] : effective_) {
      (*info->mutable_knobs())[name] = value;
    }
  }

 private:
  void Fail(const std::string& message);

  std::map<std::string, std::string> given_;
  std::map<std::string, std::string> effective_;
  std::set<std::string> read_;
  absl::Status error_;
};

// The `kv_dtype` knob of every engine that keeps KV: f32 (default), f16, int8
// (a scale per block and per head of width `head_dim`), int4 (a scale per 32
// elements); engines/state/kv_format.h.
inline KvFormat ReadKvDtypeKnob(Knobs& knobs, int head_dim) {
  return {
      .dtype = KvDtypeFromName(knobs.Choice("kv_dtype", "f32", KvDtypeNames())),
      .scale_width = head_dim};
}

// For EngineInfo text: "" for f32, else how the KV rows are stored.
inline std::string KvDtypeNote(const KvFormat& format) {
  if (format.dtype == KvDtype::kF32) return "";
  return "; KV stored as " + std::string(KvDtypeName(format.dtype)) +
         " (block_bytes per block_tokens tokens, scales included)";
}

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_COMMON_KNOBS_H_
