// Transport security and client authentication of the gRPC port: TLS server
// credentials (optionally mutual TLS) whose certificate files are re-read
// while serving, and bearer-token authentication of every call from a file
// of "client_name token" lines (docs/security.md).
//
// Example:
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
//       MakeServerCredentials({.cert_file = "server.pem",
//                              .key_file = "server.key"});
//   absl::StatusOr<TokenTable> tokens = TokenTable::Load("tokens.txt");
//   auto auth = std::make_shared<TokenAuthProcessor>(
//       *std::move(tokens), /*health_without_token=*/true,
//       &metrics.auth_failures());
//   (*creds)->SetAuthMetadataProcessor(auth);
//   ... in a handler: ClientKey(*context) == "alice"
//
// Tokens are never stored, logged or exported: the table keeps their SHA-256
// digests and compares a presented token's digest with every entry in
// constant time.
#ifndef TRILEMMA_SERVER_AUTH_H_
#define TRILEMMA_SERVER_AUTH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"

namespace trilemma {

struct TlsOptions {
  // PEM certificate chain and private key of the server. Both or neither.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle: when set, clients must present a certificate it signed
  // (mutual TLS).
  std::string client_ca_file;
  // How often gRPC's file watcher re-reads the three files; a replaced
  // certificate serves new handshakes, open connections and streams stay.
  absl::Duration reload_interval = absl::Seconds(60);
};

// Insecure credentials without cert_file/key_file; else TLS 1.2+ credentials
// backed by a grpc::experimental::FileWatcherCertificateProvider. The files
// are checked first (readable, PEM, the key matching the certificate), so a
// mistake is an INVALID_ARGUMENT naming the file instead of failed
// handshakes later.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

// Client names with the SHA-256 digests of their tokens.
//
// File format: one "client_name token" pair per line; blank lines and lines
// starting with '#' are skipped. Names are [A-Za-z0-9._-]{1,64}; tokens are
// 16..4096 printable ASCII characters without spaces. Duplicate names or
// tokens are errors.
class TokenTable {
 public:
  using Digest = std::array<uint8_t, 32>;

  // INVALID_ARGUMENT naming the file and line (never the token) on a bad
  // file, NOT_FOUND when it cannot be read.
  static absl::StatusOr<TokenTable> Load(const std::string& path);
  static absl::StatusOr<TokenTable> Parse(absl::string_view text,
                                          absl::string_view source);

  // The client whose token is `token`, or nullopt. Takes the same time for
  // every token of a given length whether or not it matches.
  std::optional<std::string> Authenticate(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string client;
    Digest digest;
  };
  std::vector<Entry> entries_;
};

// Why a call was refused; the `reason` label of
// trilemma_auth_failures_total.
enum class AuthFailure {
  kMissing,    // no authorization metadata
  kMalformed,  // not "Bearer <token>"
  kInvalid,    // no client has this token
  kMismatch,   // a different client's token on an authenticated connection
  kCount,
};
absl::string_view AuthFailureName(AuthFailure reason);

// Auth-context property holding the authenticated client's name.
inline constexpr char kClientProperty[] = "trilemma.client";

// Checks "authorization: Bearer <token>" on every call. Health checks
// (/grpc.health.v1.Health/) pass without a token when
// `health_without_token`; everything else — reflection included — gets
// UNAUTHENTICATED without a valid token. A connection is bound to the first
// client that authenticates on it.
//
// Thread-safe: gRPC calls Process from its threads; Reload from any thread.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  // `failures` (one counter per AuthFailure, created here) must outlive this.
  TokenAuthProcessor(TokenTable tokens, bool health_without_token,
                     prometheus::Family<prometheus::Counter>* failures);

  // Swaps in a new table; calls already authenticated keep running.
  void Reload(TokenTable tokens);

  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  grpc::Status Fail(AuthFailure reason, const std::string& message);

  const bool health_without_token_;
  std::array<prometheus::Counter*, static_cast<size_t>(AuthFailure::kCount)>
      failures_{};
  absl::Mutex mu_;
  std::shared_ptr<const TokenTable> tokens_ ABSL_GUARDED_BY(mu_);
};

// Whom a call is accounted to: the token's client name, else the identity
// of a verified client certificate ("x509:<SAN or CN>"), else the peer's
// address without its port ("ipv4:10.0.0.7").
std::string ClientKey(const grpc::ServerContextBase& context);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_AUTH_H_
