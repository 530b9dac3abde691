#include "server/metrics_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// The oldest queued OpenSSL error as text (empty when none).
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int)
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return absl::StrCat(": ", text);
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct FileStamp {
  off_t size = -1;
  int64_t mtime_ns = -1;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StampOf(const std::string& path) {
  struct stat st {};
  if (path.empty() || stat(path.c_str(), &st) != 0) return {};
  return {st.st_size,
          int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

absl::Status BadFile(const std::string& flag, const std::string& path,
                     const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", path, "' ", why, OpenSslError()));
}

}  // namespace

struct MetricsTls::Loaded {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;  // intermediates after the leaf
  EVP_PKEY* key = nullptr;
  X509_STORE* client_cas = nullptr;  // null: no client certificates asked

  ~Loaded() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_cas);
  }
};

struct MetricsTls::Stamps {
  FileStamp cert, key, client_ca;
  bool operator==(const Stamps&) const = default;
};

MetricsTls::MetricsTls(TlsOptions files, absl::string_view flag_prefix,
                       absl::string_view port)
    : files_(std::move(files)), flag_prefix_(flag_prefix), port_(port) {}
MetricsTls::~MetricsTls() = default;

absl::StatusOr<std::unique_ptr<MetricsTls>> MetricsTls::Load(
    const TlsOptions& files, absl::string_view flag_prefix,
    absl::string_view port) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_prefix, "_cert_file and ", flag_prefix,
                     "_key_file go together: set both or neither"));
  }
  if (files.cert_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_prefix, "_cert_file: needed for TLS on ", port));
  }
  std::unique_ptr<MetricsTls> tls(new MetricsTls(files, flag_prefix, port));
  Stamps stamps{StampOf(files.cert_file), StampOf(files.key_file),
                StampOf(files.client_ca_file)};
  absl::StatusOr<std::unique_ptr<Loaded>> loaded = tls->ReadFiles();
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock lock(&tls->mu_);
  tls->loaded_ = *std::move(loaded);
  tls->stamps_ = std::make_unique<Stamps>(stamps);
  return tls;
}

absl::StatusOr<std::unique_ptr<MetricsTls::Loaded>> MetricsTls::ReadFiles()
    const {
  auto Flag = [this](absl::string_view file) {
    return absl::StrCat(flag_prefix_, "_", file);
  };
  auto loaded = std::make_unique<Loaded>();
  {
    BioPtr bio(BIO_new_file(files_.cert_file.c_str(), "r"));
    if (bio == nullptr) {
      return BadFile(Flag("cert_file"), files_.cert_file, "cannot be read");
    }
    loaded->cert = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr);
    if (loaded->cert == nullptr) {
      return BadFile(Flag("cert_file"), files_.cert_file,
                     "holds no PEM certificate");
    }
    loaded->chain = sk_X509_new_null();
    while (X509* next =
               PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(loaded->chain, next);
    }
    ERR_clear_error();  // the end of the file reads as "no start line"
  }
  {
    BioPtr bio(BIO_new_file(files_.key_file.c_str(), "r"));
    if (bio == nullptr) {
      return BadFile(Flag("key_file"), files_.key_file, "cannot be read");
    }
    loaded->key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (loaded->key == nullptr) {
      return BadFile(Flag("key_file"), files_.key_file,
                     "holds no PEM private key");
    }
    if (X509_check_private_key(loaded->cert, loaded->key) != 1) {
      return BadFile(Flag("key_file"), files_.key_file,
                     absl::StrCat("does not match the certificate in '",
                                  files_.cert_file, "'"));
    }
  }
  if (!files_.client_ca_file.empty()) {
    BioPtr bio(BIO_new_file(files_.client_ca_file.c_str(), "r"));
    if (bio == nullptr) {
      return BadFile(Flag("client_ca_file"), files_.client_ca_file,
                     "cannot be read");
    }
    loaded->client_cas = X509_STORE_new();
    int certificates = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(loaded->client_cas, ca);
      X509_free(ca);
      ++certificates;
    }
    ERR_clear_error();
    if (certificates == 0) {
      return BadFile(Flag("client_ca_file"), files_.client_ca_file,
                     "holds no PEM certificate");
    }
  }
  return loaded;
}

void MetricsTls::ReloadIfChanged() {
  Stamps now{StampOf(files_.cert_file), StampOf(files_.key_file),
             StampOf(files_.client_ca_file)};
  {
    absl::MutexLock lock(&mu_);
    if (*stamps_ == now) return;
  }
  // Read outside the lock: other handshakes go on with the current pair.
  absl::StatusOr<std::unique_ptr<Loaded>> loaded = ReadFiles();
  absl::MutexLock lock(&mu_);
  *stamps_ = now;
  if (!loaded.ok()) {
    if (!reported_bad_reload_) {
      std::cerr << "trilemma-server: " << port_
                << " TLS keeps the previous certificate: "
                << loaded.status().message() << "\n";
      reported_bad_reload_ = true;
    }
    return;
  }
  reported_bad_reload_ = false;
  loaded_ = *std::move(loaded);
}

int MetricsTls::SetCertificate(SSL* ssl, void* arg) {
  auto* self = static_cast<MetricsTls*>(arg);
  self->ReloadIfChanged();
  std::shared_ptr<const Loaded> loaded;
  {
    absl::MutexLock lock(&self->mu_);
    loaded = self->loaded_;
  }
  if (SSL_use_cert_and_key(ssl, loaded->cert, loaded->key, loaded->chain,
                           /*override=*/1) != 1) {
    return 0;  // the handshake fails; nothing is served without a certificate
  }
  if (loaded->client_cas != nullptr &&
      SSL_set1_verify_cert_store(ssl, loaded->client_cas) != 1) {
    return 0;
  }
  return 1;
}

void MetricsTls::Install(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cert_cb(ctx, &MetricsTls::SetCertificate, this);
  if (!files_.client_ca_file.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
}

}  // namespace trilemma
