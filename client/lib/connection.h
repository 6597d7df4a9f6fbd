// How a client reaches a PromptIntern service: the address, TLS (the CA to trust, and a client
// certificate for mutual TLS) and the bearer token sent with every call.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace promptintern {

struct ConnectionOptions {
  std::string address;
  // TLS is on when `tls` is set or any TLS file is given. Without tls_ca_file the system's
  // trusted roots verify the server.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;  // client certificate for mutual TLS, with its key
  std::string tls_key_file;
  // The name the server's certificate must carry when it differs from the address's host.
  std::string tls_server_name;
  // Sent as "authorization: Bearer <token>" on every call when set.
  std::string token;
  int max_receive_message_bytes = 64 << 20;
};

class Connection {
 public:
  // Plaintext, no token: cannot fail.
  explicit Connection(const std::string& address);
  // Reads the TLS files; an unreadable one is an error naming it.
  static absl::StatusOr<Connection> Open(const ConnectionOptions& options);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Sets the deadline and the token on a call's context.
  void Prepare(grpc::ClientContext* context, std::chrono::duration<double> timeout) const;
  // The token alone, for streams that run as long as the job they follow.
  void Authorize(grpc::ClientContext* context) const;

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, std::string token);
  std::shared_ptr<grpc::Channel> channel_;
  std::string token_;
};

// The token from $PROMPTINTERN_TOKEN, or from `path` when given (first non-empty line).
absl::StatusOr<std::string> LoadToken(const std::string& path);

}  // namespace promptintern
