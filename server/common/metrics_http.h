// Serves a prometheus-cpp registry as GET /metrics in the Prometheus text format.
//
// One thread runs a poll loop over non-blocking sockets, so a slow or idle client costs a slot,
// never the other scrapes. Every connection has deadlines: its request head must be complete
// within header_timeout of the accept (a client trickling bytes is answered 408 and closed, however
// regularly it sends), and the response must be taken within write_timeout. Beyond
// max_connections a new connection is answered 503 at once. One request per connection
// (Connection: close). Answers: 200 for GET or HEAD /metrics, 404 for another path, 405 for
// another method, 400 for a malformed request, 408, 431 for a head over max_request_bytes, 503,
// 505 for an HTTP version other than 1.x.
//
// Why not prometheus::Exposer: Debian's civetweb (behind Exposer) starts its worker threads with a
// compiled-in stack size smaller than the static TLS that libtorch's dependencies bring into the
// process, so pthread_create fails and no metrics are ever served. Checked again with Debian 12's
// prometheus-cpp 1.0.1 and civetweb 1.15: the same 10-line Exposer program serves /metrics, and
// linked with libtorch_cpu throws "null context when constructing CivetServer" for any num_threads;
// civetweb takes the stack size from a compile-time constant (pthread_attr_setstacksize) and has
// no option for it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prometheus {
class Registry;
}

namespace promptintern {

struct MetricsHttpOptions {
  int max_connections = 1000;
  size_t max_request_bytes = 8192;                   // the request head, request line included
  absl::Duration header_timeout = absl::Seconds(10);  // accept -> complete request head
  absl::Duration write_timeout = absl::Seconds(10);   // complete head -> response fully sent
};

class MetricsHttpServer {
 public:
  // `address` is HOST:PORT (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  std::shared_ptr<prometheus::Registry> registry,
                                                                  const MetricsHttpOptions& options = {});
  // Shutdown(absl::ZeroDuration()) unless Shutdown already ran.
  ~MetricsHttpServer();
  int port() const { return port_; }

  // Stops accepting and closes connections still sending their request; responses being sent
  // get until `grace`; then every connection is closed and the thread has ended. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  class Loop;
  MetricsHttpServer() = default;

  int port_ = 0;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::once_flag shutdown_once_;
};

}  // namespace promptintern
