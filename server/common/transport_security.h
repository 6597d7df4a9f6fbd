// Secure transport for both services: TLS, optional mutual TLS, and bearer tokens, all from the
// service's settings (YAML keys or flags, see Bind).
//
// Tokens are checked by every RPC handler (Authenticate at its top), not by gRPC's credentials
// machinery: that way a token also works behind a mesh that terminates TLS, and grpc.health.v1
// (registered by gRPC itself, never by us) stays open for load balancers and kubelet probes.
// Server reflection stays open too; it reveals the public .proto schema and nothing else.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/service_config.h"

namespace promptintern {

struct TransportSecuritySettings {
  std::string tls_cert_file;       // PEM certificate chain; TLS is on when this and the key are set
  std::string tls_key_file;        // PEM private key of the certificate
  std::string tls_client_ca_file;  // set: mutual TLS, clients must present a certificate this CA signed
  std::string auth_token_file;     // set: every RPC but health needs "authorization: Bearer <token>"
  int tls_reload_seconds = 60;     // how often the three TLS files are checked for changes

  // Registers tls_cert_file / --tls-cert-file, tls_key_file, tls_client_ca_file, tls_reload_seconds
  // and auth_token_file.
  void Bind(ServiceConfig& config);
  bool tls() const { return !tls_cert_file.empty() || !tls_key_file.empty(); }
};

// Insecure credentials without TLS settings; otherwise TLS credentials that watch the files for
// renewals. The files are checked here first, so that a wrong one is reported by name (unreadable,
// not PEM, key not matching the certificate) instead of gRPC's bare "cannot listen".
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TransportSecuritySettings& settings);

class BearerTokenAuthenticator {
 public:
  // Accepts every call: the service runs without tokens.
  BearerTokenAuthenticator() = default;
  // One token per line; blank lines and lines starting with '#' are skipped, so a rotation can
  // list the old and the new token together. A file without any token is an error, not "open".
  // The file is read again when it changes (checked at most once a second), so a rotated
  // Kubernetes Secret takes effect without a restart; a change that leaves it unreadable or empty
  // keeps the tokens already loaded.
  static absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> FromSettings(
      const TransportSecuritySettings& settings);

  // OK, or UNAUTHENTICATED saying what is wrong (never echoing the token that was sent).
  grpc::Status Authenticate(const grpc::ServerContext& context) const;
  bool enabled() const { return !path_.empty(); }

 private:
  // Whether `presented` is one of the tokens, read again first when the file changed.
  bool Accepts(absl::string_view presented) const;
  void ReloadIfChanged() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string path_;
  mutable absl::Mutex mu_;
  mutable std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
  mutable std::filesystem::file_time_type loaded_version_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time next_check_ ABSL_GUARDED_BY(mu_);
};

// What a server needs from its TransportSecuritySettings, loaded and checked in one step.
struct ServerSecurity {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::unique_ptr<BearerTokenAuthenticator> authenticator;
};
absl::StatusOr<ServerSecurity> LoadServerSecurity(const TransportSecuritySettings& settings);

}  // namespace promptintern
