// TLS for the /metrics port and the HTTP endpoint: an OpenSSL server context
// configured from PEM files that are watched, so a replaced certificate (or
// client CA) serves the next connection without a restart
// (docs/security.md, "/metrics"; docs/http.md).
//
// Install() sets OpenSSL's certificate callback, which runs at every
// handshake and re-reads the files when their size or mtime changed; a broken
// replacement keeps the last good pair and is reported once.
//
// Example:
//   absl::StatusOr<std::unique_ptr<MetricsTls>> tls = MetricsTls::Load(
//       {.cert_file = "tls.crt", .key_file = "tls.key"});
//   httplib::SSLServer https([&](SSL_CTX& ctx) {
//     (*tls)->Install(&ctx);
//     return true;
//   });
//
// Thread-safety: the certificate callback runs on the HTTP server's worker
// threads; the loaded files are guarded by a mutex. The object must outlive
// every SSL context it was installed on.
#ifndef TRILEMMA_SERVER_METRICS_TLS_H_
#define TRILEMMA_SERVER_METRICS_TLS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/auth.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace trilemma {

class MetricsTls {
 public:
  // Reads and checks the files now: both of cert_file/key_file (PEM, the key
  // matching the certificate) and, if set, client_ca_file (PEM, at least one
  // certificate; clients must then present a certificate it signed).
  // INVALID_ARGUMENT naming the flag (`flag_prefix` + "_cert_file", ...)
  // and file otherwise. `port` names the port in the log line of a bad
  // reload.
  static absl::StatusOr<std::unique_ptr<MetricsTls>> Load(
      const TlsOptions& files, absl::string_view flag_prefix = "metrics_tls",
      absl::string_view port = "/metrics");
  ~MetricsTls();

  MetricsTls(const MetricsTls&) = delete;
  MetricsTls& operator=(const MetricsTls&) = delete;

  // Configures a server context: TLS 1.2+, the certificate callback, and
  // required client certificates when client_ca_file is set.
  void Install(SSL_CTX* ctx);

 private:
  struct Loaded;  // certificate chain, key and client CA store (OpenSSL)
  struct Stamps;  // size + mtime of each file when last read

  MetricsTls(TlsOptions files, absl::string_view flag_prefix,
             absl::string_view port);

  // Reads all files; the error names the flag and file.
  absl::StatusOr<std::unique_ptr<Loaded>> ReadFiles() const;
  // OpenSSL's certificate callback (arg: this): reload if changed, then set
  // the certificate, key, chain and client CA store on `ssl`.
  static int SetCertificate(SSL* ssl, void* arg);
  void ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

  const TlsOptions files_;
  const std::string flag_prefix_;
  const std::string port_;
  absl::Mutex mu_;
  std::shared_ptr<const Loaded> loaded_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stamps> stamps_ ABSL_GUARDED_BY(mu_);
  bool reported_bad_reload_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_METRICS_TLS_H_
