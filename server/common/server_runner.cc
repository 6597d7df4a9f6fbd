#include "server/common/server_runner.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace promptintern {

RunningServer::RunningServer(std::unique_ptr<grpc::Server> server, int port,
                             std::unique_ptr<grpc::Server> health_server, int health_port)
    : server_(std::move(server)), port_(port), health_server_(std::move(health_server)), health_port_(health_port) {}

RunningServer::~RunningServer() = default;

void RunningServer::SetServing(bool serving) {
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server != nullptr) server->GetHealthCheckService()->SetServingStatus("", serving);
  }
}

void RunningServer::Shutdown(std::chrono::seconds grace) {
  SetServing(false);
  const auto deadline = std::chrono::system_clock::now() + grace;
  server_->Shutdown(deadline);
  if (health_server_ != nullptr) health_server_->Shutdown(deadline);
}

absl::StatusOr<std::unique_ptr<RunningServer>> StartGrpcServer(const ServerOptions& options,
                                                               const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  std::unique_ptr<grpc::Server> health_server;
  int health_port = 0;
  if (!options.health_listen_address.empty()) {
    // No services of ours: this server carries only the default health service.
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(options.health_listen_address, grpc::InsecureServerCredentials(), &health_port);
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr || health_port == 0) {
      server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen for health checks on ", options.health_listen_address));
    }
  }
  for (grpc::Server* started : {server.get(), health_server.get()}) {
    if (started != nullptr) started->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
  }
  return std::make_unique<RunningServer>(std::move(server), port, std::move(health_server), health_port);
}

namespace {

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void WaitForTerminationSignal() {
  const sigset_t signals = TerminationSignals();
  int received = 0;
  sigwait(&signals, &received);
}

}  // namespace promptintern
