// The flags every command that talks to a service shares: --server, TLS and the bearer token.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/lib/connection.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace promptintern::cli {

struct ConnectionFlags {
  ConnectionOptions options;
  std::string token_file;
};

// --server (help `server_help`), --tls, --tls-ca-file, --tls-cert-file, --tls-key-file,
// --tls-server-name, --token-file (default: $PROMPTINTERN_TOKEN). Returns the --server option.
CLI::Option* AddConnectionFlags(CLI::App* command, ConnectionFlags* flags, const std::string& server_help);

absl::StatusOr<Connection> OpenConnection(const ConnectionFlags& flags);

}  // namespace promptintern::cli
