#include "server/common/transport_security.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioDeleter> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::unique_ptr<X509, X509Deleter>> ParseCertificate(const std::string& pem, const std::string& path) {
  auto bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Deleter> certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (certificate == nullptr) return absl::InvalidArgumentError(absl::StrCat(path, ": no PEM certificate in it"));
  return certificate;
}

absl::StatusOr<std::string> ReadSetting(const std::string& path, const char* key) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", text.status().message()));
  return text;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The tokens in `path` and the modification time they were read at.
absl::StatusOr<std::pair<std::vector<std::string>, std::filesystem::file_time_type>> ReadTokens(
    const std::string& path) {
  std::error_code error;
  const std::filesystem::file_time_type version = std::filesystem::last_write_time(path, error);
  ASSIGN_OR_RETURN(std::string text, ReadSetting(path, "auth_token_file"));
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    tokens.emplace_back(line);
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat("auth_token_file ", path, " holds no token"));
  return std::make_pair(std::move(tokens), version);
}

}  // namespace

void TransportSecuritySettings::Bind(ServiceConfig& config) {
  config.Bind("tls_cert_file", "--tls-cert-file", tls_cert_file, "PEM certificate chain to serve TLS with");
  config.Bind("tls_key_file", "--tls-key-file", tls_key_file, "PEM private key of --tls-cert-file");
  config.Bind("tls_client_ca_file", "--tls-client-ca-file", tls_client_ca_file,
              "PEM CA: require client certificates it signed (mutual TLS)");
  config.Bind("auth_token_file", "--auth-token-file", auth_token_file,
              "Bearer tokens, one per line: every RPC but health needs one");
  config.Bind("tls_reload_seconds", "--tls-reload-seconds", tls_reload_seconds,
              "How often the TLS files are checked for a renewed certificate");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TransportSecuritySettings& settings) {
  if (!settings.tls()) {
    if (!settings.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("tls_client_ca_file needs tls_cert_file and tls_key_file (mutual TLS is TLS)");
    }
    return grpc::InsecureServerCredentials();
  }
  if (settings.tls_cert_file.empty() || settings.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both tls_cert_file and tls_key_file");
  }
  ASSIGN_OR_RETURN(std::string certificate_pem, ReadSetting(settings.tls_cert_file, "tls_cert_file"));
  ASSIGN_OR_RETURN(std::string key_pem, ReadSetting(settings.tls_key_file, "tls_key_file"));
  ASSIGN_OR_RETURN(auto certificate, ParseCertificate(certificate_pem, settings.tls_cert_file));
  auto key_bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(settings.tls_key_file, ": no unencrypted PEM private key in it"));
  }
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(settings.tls_key_file, " is not the private key of the certificate in ",
                                                   settings.tls_cert_file));
  }
  if (!settings.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(std::string ca_pem, ReadSetting(settings.tls_client_ca_file, "tls_client_ca_file"));
    RETURN_IF_ERROR(ParseCertificate(ca_pem, settings.tls_client_ca_file).status());
  }
  if (settings.tls_reload_seconds < 1) return absl::InvalidArgumentError("tls_reload_seconds must be >= 1");
  // The files are watched, not read once: a renewed certificate (cert-manager rewrites the Secret)
  // serves new handshakes without a restart. gRPC keeps the previous pair while a half-written
  // update has a key that does not match its certificate.
  const unsigned int interval = static_cast<unsigned int>(settings.tls_reload_seconds);
  auto provider = settings.tls_client_ca_file.empty()
                      ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            settings.tls_key_file, settings.tls_cert_file, interval)
                      : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                            settings.tls_key_file, settings.tls_cert_file, settings.tls_client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (settings.tls_client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> BearerTokenAuthenticator::FromFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto loaded, ReadTokens(path));
  auto authenticator = std::make_unique<BearerTokenAuthenticator>();
  authenticator->path_ = path;
  absl::MutexLock lock(&authenticator->mu_);
  authenticator->tokens_ = std::move(loaded.first);
  authenticator->loaded_version_ = loaded.second;
  authenticator->next_check_ = absl::Now() + absl::Seconds(1);
  return authenticator;
}

absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> BearerTokenAuthenticator::FromSettings(
    const TransportSecuritySettings& settings) {
  if (settings.auth_token_file.empty()) return std::make_unique<BearerTokenAuthenticator>();
  return FromFile(settings.auth_token_file);
}

absl::StatusOr<ServerSecurity> LoadServerSecurity(const TransportSecuritySettings& settings) {
  ServerSecurity security;
  ASSIGN_OR_RETURN(security.credentials, MakeServerCredentials(settings));
  ASSIGN_OR_RETURN(security.authenticator, BearerTokenAuthenticator::FromSettings(settings));
  return security;
}

void BearerTokenAuthenticator::ReloadIfChanged() const {
  const absl::Time now = absl::Now();
  if (now < next_check_) return;
  next_check_ = now + absl::Seconds(1);
  std::error_code error;
  const std::filesystem::file_time_type version = std::filesystem::last_write_time(path_, error);
  if (error || version == loaded_version_) return;
  if (auto reloaded = ReadTokens(path_); reloaded.ok()) {
    tokens_ = std::move(reloaded->first);
    loaded_version_ = reloaded->second;
  }
}

bool BearerTokenAuthenticator::Accepts(absl::string_view presented) const {
  absl::MutexLock lock(&mu_);
  ReloadIfChanged();
  bool accepted = false;
  for (const std::string& token : tokens_) accepted |= ConstantTimeEquals(presented, token);
  return accepted;
}

grpc::Status BearerTokenAuthenticator::Authenticate(const grpc::ServerContext& context) const {
  if (!enabled()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value(found->second.data(), found->second.size());
  // The scheme name is case-insensitive (RFC 7235).
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization metadata is not a Bearer token");
  }
  const absl::string_view presented = absl::StripAsciiWhitespace(value.substr(7));
  if (!Accepts(presented)) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
  return grpc::Status::OK;
}

}  // namespace promptintern
