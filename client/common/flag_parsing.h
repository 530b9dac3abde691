// Parsing of the client's list- and enum-valued flags, with errors that name
// the flag and the offending element.
//
// Example:
//   absl::StatusOr<std::vector<int32_t>> prompt =
//       ParseTokenList("--prompt", "3 17 42");        // {3, 17, 42}
//   ParseIntList("--pairs", "16,x", 1, 4096);
//   // INVALID_ARGUMENT "--pairs[1]: 'x' is not an integer"
#ifndef TRILEMMA_CLIENT_COMMON_FLAG_PARSING_H_
#define TRILEMMA_CLIENT_COMMON_FLAG_PARSING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma::client {

// Token ids separated by spaces and/or commas; each in [0, 2^31). An empty
// list is an error (every command that takes tokens needs at least one).
absl::StatusOr<std::vector<int32_t>> ParseTokenList(absl::string_view flag,
                                                    absl::string_view text);

// Comma-separated integers, each in [min, max]; non-empty, no duplicates.
absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag,
                                                  absl::string_view text,
                                                  int64_t min, int64_t max);

// Comma-separated names, non-empty, no duplicates ("a,b"); spaces around
// names are ignored.
absl::StatusOr<std::vector<std::string>> ParseNameList(absl::string_view flag,
                                                       absl::string_view text);

// How a command prints its result.
enum class OutputFormat { kTable, kJson };

// "table" or "json".
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view flag,
                                               absl::string_view text);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_FLAG_PARSING_H_
