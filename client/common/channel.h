// Channels to one or several Trilemma servers, and gRPC status conversion.
//
// Example:
//   absl::StatusOr<std::string> uri = TargetUri("10.0.0.1:1,10.0.0.2:1");
//   // uri == "ipv4:10.0.0.1:1,10.0.0.2:1"
//   std::shared_ptr<grpc::Channel> channel = CreateClientChannel(*uri);
//
// Every channel uses the round_robin load-balancing policy, so a list of
// servers, or one DNS name resolving to many (a Kubernetes headless
// Service), spreads calls over all of them.
#ifndef TRILEMMA_CLIENT_COMMON_CHANNEL_H_
#define TRILEMMA_CLIENT_COMMON_CHANNEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"

namespace trilemma::client {

// Turns the --target flag into a gRPC target URI:
// - a URI with a scheme ("dns:///svc:50051", "unix:/tmp/s", "ipv4:...")
//   is passed through unchanged;
// - one "host:port" is passed through (gRPC resolves it with DNS);
// - a comma-separated list of "host:port" (IPv6 hosts in brackets) becomes
//   one "ipv4:" or "ipv6:" address-list URI; host names in a list are
//   resolved here (IPv4 addresses preferred).
// INVALID_ARGUMENT naming the entry for a malformed entry, a bad port, an
// unresolvable host or a list mixing IPv4 and IPv6.
absl::StatusOr<std::string> TargetUri(absl::string_view target);

// An insecure channel to `uri` with round_robin load balancing.
std::shared_ptr<grpc::Channel> CreateClientChannel(const std::string& uri);

// How a channel authenticates the server and itself (docs/security.md).
struct ChannelSecurity {
  // TLS with the system's root CAs; implied by any file below.
  bool tls = false;
  // PEM CA bundle that signed the server's certificate.
  std::string ca_file;
  // PEM client certificate and key (mutual TLS); both or neither.
  std::string cert_file;
  std::string key_file;
  // Name to check the server's certificate against instead of the target's
  // host (e.g. when connecting by IP to a certificate for a DNS name).
  std::string server_name;
  // Sent as "authorization: Bearer <token>" on every call; requires TLS.
  std::string token;
};

// The --tls* and --auth_token flags, the token falling back to the
// TRILEMMA_TOKEN environment variable.
ChannelSecurity SecurityFromFlags();

// A channel to `uri` with round_robin load balancing, TLS and a bearer
// token as `security` says. INVALID_ARGUMENT naming the flag for an
// unreadable file, a certificate without its key, or a token without TLS
// (it would cross the network in plaintext).
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateClientChannel(
    const std::string& uri, const ChannelSecurity& security);

// The same code and message as an absl::Status (the codes are numbered
// alike).
absl::Status ToAbslStatus(const grpc::Status& status);

// "CODE: message", e.g. "RESOURCE_EXHAUSTED: engine 'attention': budget ...".
std::string StatusText(const absl::Status& status);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_COMMON_CHANNEL_H_
