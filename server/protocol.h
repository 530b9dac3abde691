// Protocol: which front end a request came in by — the `protocol` label of
// trilemma_requests_total (docs/architecture.md, "Metrics").
//
// Example:
//   metrics.requests(Outcome::kLength, sink->protocol()).Increment();
//   ProtocolName(Protocol::kHttp)  // "http"
#ifndef TRILEMMA_SERVER_PROTOCOL_H_
#define TRILEMMA_SERVER_PROTOCOL_H_

#include <cstddef>
#include <iterator>

#include "absl/strings/string_view.h"

namespace trilemma {

enum class Protocol {
  kGrpc,  // Generate and Session calls
  kHttp,  // the OpenAI-compatible endpoint (docs/http.md)
  kCount,
};

inline absl::string_view ProtocolName(Protocol protocol) {
  constexpr absl::string_view kNames[] = {"grpc", "http"};
  static_assert(std::size(kNames) == static_cast<size_t>(Protocol::kCount));
  return kNames[static_cast<size_t>(protocol)];
}

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_PROTOCOL_H_
