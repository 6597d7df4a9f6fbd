#include "client/cli/connection_flags.h"

#include <CLI/CLI.hpp>

#include "core/util/status_macros.h"

namespace promptintern::cli {

CLI::Option* AddConnectionFlags(CLI::App* command, ConnectionFlags* flags, const std::string& server_help) {
  CLI::Option* server = command->add_option("--server", flags->options.address, server_help);
  command->add_flag("--tls", flags->options.tls, "Connect with TLS (implied by any --tls-* file)");
  command->add_option("--tls-ca-file", flags->options.tls_ca_file, "PEM CA to verify the server with (default: system roots)");
  command->add_option("--tls-cert-file", flags->options.tls_cert_file, "PEM client certificate, for mutual TLS");
  command->add_option("--tls-key-file", flags->options.tls_key_file, "PEM key of --tls-cert-file");
  command->add_option("--tls-server-name", flags->options.tls_server_name,
                      "Name expected in the server certificate when it differs from --server's host");
  command->add_option("--token-file", flags->token_file, "File with the bearer token (default: $PROMPTINTERN_TOKEN)");
  return server;
}

absl::StatusOr<Connection> OpenConnection(const ConnectionFlags& flags) {
  ConnectionOptions options = flags.options;
  ASSIGN_OR_RETURN(options.token, LoadToken(flags.token_file));
  return Connection::Open(options);
}

}  // namespace promptintern::cli
