// The client's JSON output: the protobuf JSON mapping of a report message,
// so tools parse one stable schema (and JsonStringToMessage reads it back).
//
// Example:
//   absl::StatusOr<std::string> json = ToJson(report);  // "{\n \"rows\": ..."
#ifndef TRILEMMA_CLIENT_COMMON_JSON_OUTPUT_H_
#define TRILEMMA_CLIENT_COMMON_JSON_OUTPUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace trilemma::client {

// Indented JSON with lowerCamelCase field names; fields at their default
// value (recall 0, hits 0) are printed too, so every row has every field.
// Ends with a newline. INTERNAL if protobuf cannot serialise the message.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_JSON_OUTPUT_H_
