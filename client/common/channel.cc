#include "client/common/channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"

ABSL_FLAG(bool, tls, false,
          "Connect with TLS, trusting the system's root CAs (implied by "
          "--tls_ca_file, --tls_cert_file).");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle that signed the server's certificate; turns TLS on.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate for mutual TLS (with --tls_key_file).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Check the server certificate against this name instead of the "
          "target's host.");
ABSL_FLAG(std::string, auth_token, "",
          "Bearer token sent on every call (default: the TRILEMMA_TOKEN "
          "environment variable). Needs TLS.");

namespace trilemma::client {
namespace {

// gRPC resolver schemes a --target may name explicitly.
constexpr absl::string_view kSchemes[] = {
    "dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:"};

enum class Family { kIpv4, kIpv6 };

struct Address {
  Family family;
  std::string host;  // numeric, without brackets
  std::string port;
};

bool IsIpv4Literal(const std::string& host) {
  in_addr addr;
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool IsIpv6Literal(const std::string& host) {
  in6_addr addr;
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// Numeric addresses of `host` in `family` (AF_INET or AF_INET6).
std::vector<std::string> Resolve(const std::string& host, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return out;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN];
    const void* src =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if (inet_ntop(ai->ai_family, src, buf, sizeof(buf)) == nullptr) continue;
    std::string text(buf);
    bool duplicate = false;
    for (const std::string& seen : out) duplicate |= seen == text;
    if (!duplicate) out.push_back(std::move(text));
  }
  freeaddrinfo(result);
  return out;
}

// Appends the addresses of one "host:port" list entry.
absl::Status AddEntry(absl::string_view entry, size_t index,
                      std::vector<Address>* out) {
  const std::string where = absl::StrCat("--target[", index, "] '", entry, "'");
  std::string host;
  absl::string_view port;
  if (absl::StartsWith(entry, "[")) {
    const size_t close = entry.find(']');
    if (close == absl::string_view::npos || close + 1 >= entry.size() ||
        entry[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected [ipv6]:port"));
    }
    host = std::string{entry.substr(1, close - 1)};
    port = entry.substr(close + 2);
  } else {
    const size_t colon = entry.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected host:port"));
    }
    host = std::string{entry.substr(0, colon)};
    port = entry.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": put IPv6 addresses in brackets, [addr]:port"));
    }
  }
  int port_number;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": port '", port, "' not in [1, 65535]"));
  }
  if (IsIpv4Literal(host)) {
    out->push_back({Family::kIpv4, host, std::string{port}});
    return absl::OkStatus();
  }
  if (IsIpv6Literal(host)) {
    out->push_back({Family::kIpv6, host, std::string{port}});
    return absl::OkStatus();
  }
  std::vector<std::string> v4 = Resolve(host, AF_INET);
  for (std::string& a : v4) {
    out->push_back({Family::kIpv4, std::move(a), std::string{port}});
  }
  if (!v4.empty()) return absl::OkStatus();
  std::vector<std::string> v6 = Resolve(host, AF_INET6);
  for (std::string& a : v6) {
    out->push_back({Family::kIpv6, std::move(a), std::string{port}});
  }
  if (!v6.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": cannot resolve host '", host, "'"));
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Adds "authorization: Bearer <token>" to every call's initial metadata.
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* header)
      : header_(header) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerTokenFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerTokenInterceptor(&header_);
  }

 private:
  const std::string header_;  // outlives the channel's interceptors
};

}  // namespace

ChannelSecurity SecurityFromFlags() {
  ChannelSecurity security{.tls = absl::GetFlag(FLAGS_tls),
                           .ca_file = absl::GetFlag(FLAGS_tls_ca_file),
                           .cert_file = absl::GetFlag(FLAGS_tls_cert_file),
                           .key_file = absl::GetFlag(FLAGS_tls_key_file),
                           .server_name = absl::GetFlag(FLAGS_tls_server_name),
                           .token = absl::GetFlag(FLAGS_auth_token)};
  if (security.token.empty()) {
    if (const char* env = std::getenv("TRILEMMA_TOKEN")) security.token = env;
  }
  return security;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateClientChannel(
    const std::string& uri, const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  const bool tls =
      security.tls || !security.ca_file.empty() || !security.cert_file.empty();
  if (security.cert_file.empty() != security.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file: give both or neither");
  }
  if (!security.token.empty() && !tls) {
    return absl::InvalidArgumentError(
        "--auth_token (or TRILEMMA_TOKEN): needs TLS (--tls_ca_file or "
        "--tls); a bearer token must not cross the network in plaintext");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!security.ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadPem(security.ca_file, "tls_ca_file");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!security.cert_file.empty()) {
      absl::StatusOr<std::string> cert =
          ReadPem(security.cert_file, "tls_cert_file");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadPem(security.key_file, "tls_key_file");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!security.server_name.empty()) {
      args.SetSslTargetNameOverride(security.server_name);
    }
  }
  if (security.token.empty()) {
    return grpc::CreateCustomChannel(uri, credentials, args);
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<BearerTokenFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      uri, credentials, args, std::move(interceptors));
}

absl::StatusOr<std::string> TargetUri(absl::string_view target) {
  target = absl::StripAsciiWhitespace(target);
  if (target.empty()) {
    return absl::InvalidArgumentError("--target: empty (e.g. 127.0.0.1:50051)");
  }
  for (absl::string_view scheme : kSchemes) {
    if (absl::StartsWith(target, scheme)) return std::string{target};
  }
  if (!absl::StrContains(target, ',')) return std::string{target};

  std::vector<Address> addresses;
  size_t index = 0;
  for (absl::string_view entry : absl::StrSplit(target, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target[", index, "]: empty entry"));
    }
    if (absl::Status s = AddEntry(entry, index, &addresses); !s.ok()) return s;
    ++index;
  }
  const Family family = addresses.front().family;
  std::vector<std::string> parts;
  for (const Address& a : addresses) {
    if (a.family != family) {
      return absl::InvalidArgumentError(
          "--target: a list cannot mix IPv4 and IPv6 addresses");
    }
    parts.push_back(family == Family::kIpv4
                        ? absl::StrCat(a.host, ":", a.port)
                        : absl::StrCat("[", a.host, "]:", a.port));
  }
  return absl::StrCat(family == Family::kIpv4 ? "ipv4:" : "ipv6:",
                      absl::StrJoin(parts, ","));
}

std::shared_ptr<grpc::Channel> CreateClientChannel(const std::string& uri) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(uri, grpc::InsecureChannelCredentials(),
                                   args);
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::string StatusText(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

}  // namespace trilemma::client
