// HfConfig: typed reads of a Hugging Face config.json, with errors collected
// like Knobs (engines/common/knobs.h): each reader checks type and range and
// returns a fallback on a bad value; Finish() reports the first problem,
// naming the file and the key.
//
// Example:
//   absl::StatusOr<HfConfig> c = HfConfig::Parse(text, dir + "/config.json");
//   if (!c.ok()) return c.status();  // not JSON, or not a JSON object
//   int64_t d = c->Int("hidden_size", 1, 1 << 20);
//   double eps = c->FloatOr("rms_norm_eps", 1e-6, 0, 1);
//   bool tied = c->BoolOr("tie_word_embeddings", true);
//   std::vector<std::string> arch = c->StringList("architectures");
//   if (absl::Status s = c->Finish(); !s.ok()) return s;
//   // e.g. "DIR/config.json: 'hidden_size' must be an integer in
//   //       [1, 1048576], got -3"
//
// Semantics shared by the readers: a JSON null counts as absent (the *Or
// readers then return their default; the required ones record "is missing");
// integers given as integral floats (2.0) are accepted; booleans are never
// numbers. Unknown keys are ignored: config.json carries many fields an
// engine has no use for. Copyable; not thread-safe (readers record errors).
#ifndef TRILEMMA_ENGINES_WEIGHTS_HF_CONFIG_H_
#define TRILEMMA_ENGINES_WEIGHTS_HF_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

class HfConfig {
 public:
  // INVALID_ARGUMENT "PATH: not valid JSON: ..." or "PATH: expected a JSON
  // object, got an array". `path` only names the file in errors.
  // Python's non-JSON words Infinity / -Infinity / NaN (json.dumps of
  // float('inf'), as in Mamba2 configs) read as ±1e308 and null.
  static absl::StatusOr<HfConfig> Parse(absl::string_view json_text,
                                        std::string path);

  // True if `key` is present and not null.
  bool Has(const std::string& key) const;
  // True if `key` holds a string (for keys that take a number or a word,
  // like Mamba's time_step_rank: "auto").
  bool IsString(const std::string& key) const;

  // Required integer in [min, max]; on error records it and returns min.
  int64_t Int(const std::string& key, int64_t min, int64_t max);
  // Optional integer in [min, max]: `def` when absent; on error records it
  // and returns `def`.
  int64_t IntOr(const std::string& key, int64_t def, int64_t min, int64_t max);
  // Required number in [min, max]; on error records it and returns min.
  double Float(const std::string& key, double min, double max);
  double FloatOr(const std::string& key, double def, double min, double max);
  // Optional true/false.
  bool BoolOr(const std::string& key, bool def);
  // Optional string.
  std::string StringOr(const std::string& key, std::string def);
  // Optional array of numbers (Infinity reads as 1e308, see Parse); `def`
  // when absent or on error.
  std::vector<double> FloatListOr(const std::string& key,
                                  std::vector<double> def);
  // Required array of strings (e.g. "architectures"); {} on error.
  std::vector<std::string> StringList(const std::string& key);
  // Optional integer or array of integers, each in [min, max] (e.g. fla's
  // per-layer "value_dim"): {} when absent or on error, {n} for an integer.
  std::vector<int64_t> IntOrIntList(const std::string& key, int64_t min,
                                    int64_t max);

  // OK, or the first error any reader recorded.
  absl::Status Finish() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  struct Json;  // the parsed document; nlohmann stays in the .cc
  HfConfig(std::shared_ptr<const Json> json, std::string path)
      : json_(std::move(json)), path_(std::move(path)) {}
  void Fail(const std::string& key, absl::string_view message);

  std::shared_ptr<const Json> json_;  // immutable, shared by copies
  std::string path_;
  absl::Status error_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_HF_CONFIG_H_
