// Fuzz target: arbitrary bytes as a whole safetensors file ->
// ParseSafetensors (engines/weights/safetensors.h), the parser every
// checkpoint file goes through before a byte of it is used.
//
// Traps when a refusal is not INVALID_ARGUMENT naming the file, or when an
// accepted file breaks a promise of docs/safetensors.md: tensors sorted by
// begin and tiling the data section exactly, each spanning numel x dtype size
// bytes, names unique, dtypes known. Seeds: tests/fuzz/corpus/
// safetensors_header_fuzz/ (written by tests/fuzz/make_weights_seeds.py).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engines/weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<trilemma::SafetensorsTensor>> tensors =
      trilemma::ParseSafetensors(bytes, "fuzz.safetensors");
  if (!tensors.ok()) {
    if (tensors.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(tensors.status().message(), "fuzz.safetensors: ")) {
      __builtin_trap();
    }
    return 0;
  }
  // Accepted: the header length is readable and within the file.
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  const auto data_len = static_cast<int64_t>(size - 8 - header_len);
  int64_t covered = 0;
  std::set<std::string> names;
  for (const trilemma::SafetensorsTensor& t : *tensors) {
    if (t.begin != covered || t.end < t.begin) __builtin_trap();
    covered = t.end;
    if (!names.insert(t.name).second) __builtin_trap();
    int64_t bytes_needed = trilemma::SafetensorsDtypeSize(t.dtype);
    if (bytes_needed == 0) __builtin_trap();
    for (int64_t dim : t.shape) {
      if (dim < 0) __builtin_trap();
      // Cannot overflow: the parser checked the product fits.
      bytes_needed = dim == 0 ? 0 : bytes_needed * dim;
      if (bytes_needed == 0) break;
    }
    if (bytes_needed != t.end - t.begin) __builtin_trap();
  }
  if (covered != data_len) __builtin_trap();
  return 0;
}
