#include "client/lib/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

grpc::ChannelArguments Arguments(const ConnectionOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (!options.tls_server_name.empty()) arguments.SetSslTargetNameOverride(options.tls_server_name);
  return arguments;
}

absl::StatusOr<std::string> ReadOption(const std::string& path, const char* flag) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  return text;
}

}  // namespace

Connection::Connection(const std::string& address)
    : Connection(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), Arguments({address})), "") {}

Connection::Connection(std::shared_ptr<grpc::Channel> channel, std::string token)
    : channel_(std::move(channel)), token_(std::move(token)) {}

absl::StatusOr<Connection> Connection::Open(const ConnectionOptions& options) {
  const bool tls = options.tls || !options.tls_ca_file.empty() || !options.tls_cert_file.empty() ||
                   !options.tls_key_file.empty();
  if (!tls) {
    return Connection(grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), Arguments(options)),
                      options.token);
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both --tls-cert-file and --tls-key-file");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadOption(options.tls_ca_file, "--tls-ca-file"));
  }
  if (!options.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadOption(options.tls_cert_file, "--tls-cert-file"));
    ASSIGN_OR_RETURN(ssl.pem_private_key, ReadOption(options.tls_key_file, "--tls-key-file"));
  }
  return Connection(grpc::CreateCustomChannel(options.address, grpc::SslCredentials(ssl), Arguments(options)),
                    options.token);
}

void Connection::Prepare(grpc::ClientContext* context, std::chrono::duration<double> timeout) const {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
  Authorize(context);
}

void Connection::Authorize(grpc::ClientContext* context) const {
  // Plain metadata rather than call credentials: gRPC withholds call credentials from plaintext
  // channels, and a token must also work behind a mesh that does the TLS.
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
}

absl::StatusOr<std::string> LoadToken(const std::string& path) {
  if (path.empty()) {
    const char* from_environment = std::getenv("PROMPTINTERN_TOKEN");
    return std::string(from_environment != nullptr ? from_environment : "");
  }
  ASSIGN_OR_RETURN(std::string text, ReadOption(path, "--token-file"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat("--token-file ", path, " holds no token"));
}

}  // namespace promptintern
