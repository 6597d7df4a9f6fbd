// Serves a prometheus-cpp registry as GET /metrics in the Prometheus text format.
//
// Why not prometheus::Exposer: Debian's civetweb (behind Exposer) starts its worker threads with a
// compiled-in stack size smaller than the static TLS that libtorch's dependencies bring into the
// process, so pthread_create fails and no metrics are ever served. Scrapes are rare and small; one
// thread answering one connection at a time is plenty.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}

namespace promptintern {

class MetricsHttpServer {
 public:
  // `address` is HOST:PORT (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Serve();
  void Answer(int connection);

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace promptintern
