// What both services share at start-up and shutdown: a gRPC server with grpc.health.v1 and
// reflection, a bounded message size, and SIGTERM/SIGINT handling.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace promptintern {

struct ServerOptions {
  std::string listen_address;
  int max_message_bytes = 4 << 20;
};

// Builds and starts the server; `port` receives the bound port (useful with ":0").
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(const ServerOptions& options,
                                                               const std::vector<grpc::Service*>& services,
                                                               int* port);

// Call first in main, before any thread starts: SIGTERM and SIGINT are then delivered only to
// WaitForTerminationSignal, never to a worker thread.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives.
void WaitForTerminationSignal();

}  // namespace promptintern
