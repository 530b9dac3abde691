// Fuzz target: arbitrary bytes as config.json -> HfConfig::Parse
// (engines/weights/hf_config.h) and the reads a checkpoint family makes:
// required and optional ints, floats, bools, strings and a string list.
//
// Traps when a refusal is not INVALID_ARGUMENT naming the file (and, for a
// reader, the key), or when a reader returns a value outside the range it was
// given, bad input or not. Seeds: tests/fuzz/corpus/hf_config_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engines/weights/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<trilemma::HfConfig> parsed =
      trilemma::HfConfig::Parse(text, "config.json");
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(parsed.status().message(), "config.json: ")) {
      __builtin_trap();
    }
    return 0;
  }
  trilemma::HfConfig& c = *parsed;
  const bool had_size = c.Has("hidden_size");
  const int64_t d = c.Int("hidden_size", 1, 1 << 20);
  const int64_t heads = c.IntOr("num_attention_heads", 8, 1, 1024);
  const int64_t big = c.IntOr("vocab_size", 50304, 0, INT64_MAX);
  const double theta = c.Float("rope_theta", 1, 1e9);
  const double eps = c.FloatOr("rms_norm_eps", 1e-6, 0, 1);
  const double pct = c.FloatOr("rotary_pct", 1.0, 0, 1);
  c.BoolOr("tie_word_embeddings", true);
  const std::string act = c.StringOr("hidden_act", "gelu");
  const std::vector<std::string> arch = c.StringList("architectures");
  if (d < 1 || d > (1 << 20) || heads < 1 || heads > 1024 || big < 0 ||
      !(theta >= 1 && theta <= 1e9) || !(eps >= 0 && eps <= 1) ||
      !(pct >= 0 && pct <= 1)) {
    __builtin_trap();
  }
  const absl::Status status = c.Finish();
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(status.message(), "config.json: '")) {
      __builtin_trap();
    }
  } else if (!had_size || !c.Has("architectures") || !c.Has("rope_theta")) {
    __builtin_trap();  // a required key absent, yet no error
  }
  return 0;
}
