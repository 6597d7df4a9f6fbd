// What both services share at start-up and shutdown: a gRPC server with grpc.health.v1 and
// reflection, a bounded message size, optional TLS and a plaintext health listener, and
// SIGTERM/SIGINT handling.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class Server;
class ServerCredentials;
class Service;
}  // namespace grpc

namespace promptintern {

struct ServerOptions {
  std::string listen_address;
  int max_message_bytes = 4 << 20;
  // Null: plaintext. See MakeServerCredentials.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Non-empty: a second, plaintext listener serving only grpc.health.v1, for probes that cannot
  // speak TLS (kubelet's gRPC probes). It shows the same serving status as the main server.
  std::string health_listen_address;
};

// grpc.health.v1 service names: "" (the whole server) answers SERVING only while the service can
// take traffic (the inference service: once a model is loaded), for readiness; kLivenessService
// answers SERVING from start to shutdown, for liveness, so a pod waiting for its first model is not
// restarted.
inline constexpr char kLivenessService[] = "liveness";

class RunningServer {
 public:
  RunningServer(std::unique_ptr<grpc::Server> server, int port, std::unique_ptr<grpc::Server> health_server,
                int health_port);
  ~RunningServer();
  int port() const { return port_; }
  int health_port() const { return health_port_; }  // 0 without a health listener
  // Readiness: the status of the whole server ("") on every listener.
  void SetServing(bool serving);
  // Stops accepting calls; calls in flight get until `grace` to finish.
  void Shutdown(std::chrono::seconds grace);

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_;
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_;
};

// Builds and starts the server (and the health listener when asked for).
absl::StatusOr<std::unique_ptr<RunningServer>> StartGrpcServer(const ServerOptions& options,
                                                               const std::vector<grpc::Service*>& services);

// Call first in main, before any thread starts: SIGTERM and SIGINT are then delivered only to
// WaitForTerminationSignal, never to a worker thread.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives.
void WaitForTerminationSignal();

}  // namespace promptintern
