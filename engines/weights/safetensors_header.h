// The JSON header of a safetensors file, read by a streaming (SAX) parser
// into tensor entries: nothing but the entries is ever held in memory, and
// parsing stops at the first value of the wrong type, so a 100 MB header of
// junk costs neither gigabytes nor a full parse.
//
// Example:
//   std::vector<SafetensorsTensor> tensors;
//   absl::Status s = ParseSafetensorsHeader(header_json, data_len, path,
//                                           &tensors);
//
// Internal to engines/weights/ (ParseSafetensors is the public entry point).
#ifndef TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_HEADER_H_
#define TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engines/weights/safetensors.h"

namespace trilemma {

// Parses `header_json` and checks each entry on its own (docs/safetensors.md:
// types, known dtype, begin <= end <= data_len, byte length = numel x dtype
// size, unique names, "__metadata__" an object of strings). Appends the
// tensors in file order. Does not check how entries tile the data section.
// INVALID_ARGUMENT "PATH: ..." on the first problem.
absl::Status ParseSafetensorsHeader(absl::string_view header_json,
                                    int64_t data_len, const std::string& path,
                                    std::vector<SafetensorsTensor>* tensors);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_WEIGHTS_SAFETENSORS_HEADER_H_
