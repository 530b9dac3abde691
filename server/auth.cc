#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace trilemma {
namespace {

constexpr absl::string_view kBearer = "Bearer ";
constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";
constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 4096;
constexpr size_t kMaxNameLength = 64;

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Frees OpenSSL objects.
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::unique_ptr<X509, X509Free>> ParseCertificate(
    const std::string& pem, absl::string_view flag, const std::string& path) {
  auto bio = MemBio(pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", path, "' holds no PEM certificate"));
  }
  return cert;
}

TokenTable::Digest Sha256(absl::string_view data) {
  TokenTable::Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(),
             nullptr);
  return digest;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidToken(absl::string_view token) {
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
    return false;
  }
  for (char c : token) {
    if (!absl::ascii_isgraph(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_cert_file and tls_key_file: give both or neither");
  }
  if (options.cert_file.empty()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "tls_client_ca_file: needs tls_cert_file and tls_key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::string> cert_pem =
      ReadFile(options.cert_file, "tls_cert_file");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem =
      ReadFile(options.key_file, "tls_key_file");
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::unique_ptr<X509, X509Free>> cert =
      ParseCertificate(*cert_pem, "tls_cert_file", options.cert_file);
  if (!cert.ok()) return cert.status();
  auto key_bio = MemBio(*key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_key_file: '", options.key_file,
                     "' holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_key_file: '", options.key_file,
        "' does not match the certificate in '", options.cert_file, "'"));
  }
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca_pem =
        ReadFile(options.client_ca_file, "tls_client_ca_file");
    if (!ca_pem.ok()) return ca_pem.status();
    absl::StatusOr<std::unique_ptr<X509, X509Free>> ca =
        ParseCertificate(*ca_pem, "tls_client_ca_file", options.client_ca_file);
    if (!ca.ok()) return ca.status();
  }

  const auto interval = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.reload_interval)));
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.key_file, options.cert_file, options.client_ca_file,
          interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options.client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "auth_tokens_file");
  if (!text.ok()) return text.status();
  return Parse(*text, absl::StrCat("auth_tokens_file '", path, "'"));
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text,
                                             absl::string_view source) {
  TokenTable table;
  absl::flat_hash_set<std::string> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    const std::string where = absl::StrCat(source, " line ", line_number);
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected 'client_name token', got ",
                       fields.size(), " fields"));
    }
    if (!ValidName(fields[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": client name must be 1..", kMaxNameLength,
                       " of [A-Za-z0-9._-]"));
    }
    if (!ValidToken(fields[1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": token of client '", fields[0], "' must be ",
          kMinTokenLength, "..", kMaxTokenLength, " printable characters"));
    }
    if (!names.insert(std::string{fields[0]}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": client '", fields[0], "' listed twice"));
    }
    Entry entry{std::string{fields[0]}, Sha256(fields[1])};
    for (const Entry& other : table.entries_) {
      if (other.digest == entry.digest) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": client '", entry.client,
                         "' has the token of client '", other.client, "'"));
      }
    }
    table.entries_.push_back(std::move(entry));
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no 'client_name token' lines"));
  }
  return table;
}

std::optional<std::string> TokenTable::Authenticate(
    absl::string_view token) const {
  const Digest digest = Sha256(token);
  const Entry* match = nullptr;
  // Every entry is compared, without early exit, so the time taken does not
  // tell which entry (or how much of a digest) matched.
  for (const Entry& entry : entries_) {
    const bool equal =
        CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (equal) match = &entry;
  }
  if (match == nullptr) return std::nullopt;
  return match->client;
}

absl::string_view AuthFailureName(AuthFailure reason) {
  constexpr absl::string_view kNames[] = {"missing", "malformed", "invalid",
                                          "mismatch"};
  static_assert(std::size(kNames) == static_cast<size_t>(AuthFailure::kCount));
  return kNames[static_cast<size_t>(reason)];
}

TokenAuthProcessor::TokenAuthProcessor(
    TokenTable tokens, bool health_without_token,
    prometheus::Family<prometheus::Counter>* failures)
    : health_without_token_(health_without_token),
      tokens_(std::make_shared<const TokenTable>(std::move(tokens))) {
  for (size_t i = 0; i < failures_.size(); ++i) {
    failures_[i] = &failures->Add(
        {{"reason",
          std::string{AuthFailureName(static_cast<AuthFailure>(i))}}});
  }
}

void TokenAuthProcessor::Reload(TokenTable tokens) {
  auto table = std::make_shared<const TokenTable>(std::move(tokens));
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(table);
}

grpc::Status TokenAuthProcessor::Fail(AuthFailure reason,
                                      const std::string& message) {
  failures_[static_cast<size_t>(reason)]->Increment();
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, message);
}

grpc::Status TokenAuthProcessor::Process(
    const InputMetadata& auth_metadata, grpc::AuthContext* context,
    OutputMetadata* consumed_auth_metadata,
    OutputMetadata* /*response_metadata*/) {
  auto path = auth_metadata.find(":path");
  const bool health = path != auth_metadata.end() &&
                      absl::StartsWith(absl::string_view(path->second.data(),
                                                         path->second.size()),
                                       kHealthPrefix);
  auto header = auth_metadata.find("authorization");
  if (header == auth_metadata.end()) {
    if (health && health_without_token_) return grpc::Status::OK;
    return Fail(AuthFailure::kMissing,
                "authorization: missing; send 'authorization: Bearer <token>' "
                "(trilemma --auth_token or TRILEMMA_TOKEN)");
  }
  const absl::string_view value(header->second.data(), header->second.size());
  // The token must not reach handlers (or anything that logs metadata).
  consumed_auth_metadata->insert({"authorization", std::string{value}});
  if (!absl::StartsWith(value, kBearer)) {
    return Fail(AuthFailure::kMalformed,
                "authorization: expected 'Bearer <token>'");
  }
  std::shared_ptr<const TokenTable> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  std::optional<std::string> client =
      tokens->Authenticate(value.substr(kBearer.size()));
  if (!client.has_value()) {
    return Fail(AuthFailure::kInvalid, "authorization: unknown token");
  }
  // The auth context belongs to the connection, shared by its calls: bind
  // it to the first client and refuse another client's token on it.
  absl::MutexLock lock(&mu_);
  std::vector<grpc::string_ref> bound =
      context->FindPropertyValues(kClientProperty);
  if (bound.empty()) {
    context->AddProperty(kClientProperty, *client);
    context->SetPeerIdentityPropertyName(kClientProperty);
  } else if (absl::string_view(bound.front().data(), bound.front().size()) !=
             *client) {
    return Fail(AuthFailure::kMismatch,
                "authorization: this connection is authenticated as another "
                "client; use one connection per client");
  }
  return grpc::Status::OK;
}

std::string ClientKey(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr) {
    std::vector<grpc::string_ref> names =
        auth->FindPropertyValues(kClientProperty);
    if (!names.empty()) {
      return std::string(names.front().data(), names.front().size());
    }
    // Mutual TLS without tokens: the verified certificate's identity.
    if (auth->IsPeerAuthenticated()) {
      std::vector<grpc::string_ref> identity = auth->GetPeerIdentity();
      if (!identity.empty()) {
        return absl::StrCat("x509:",
                            absl::string_view(identity.front().data(),
                                              identity.front().size()));
      }
    }
  }
  std::string peer = context.peer();
  const size_t colon = peer.rfind(':');
  const size_t scheme = peer.find(':');
  if (colon != std::string::npos && colon != scheme) peer.resize(colon);
  return peer;
}

}  // namespace trilemma
