#include "server/common/listener_settings.h"

namespace promptintern {

void ListenerSettings::Bind(ServiceConfig& config) {
  config.Bind("listen", "--listen", listen, "gRPC listen address");
  config.Bind("metrics_listen", "--metrics-listen", metrics_listen, "Prometheus /metrics address ('' = off)");
  config.Bind("max_message_bytes", "--max-message-bytes", max_message_bytes, "Largest gRPC message accepted");
  config.Bind("health_listen", "--health-listen", health_listen,
              "Extra plaintext listener with only grpc.health.v1 (for probes when TLS is on)");
  security.Bind(config);
}

}  // namespace promptintern
