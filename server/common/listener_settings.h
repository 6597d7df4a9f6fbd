// How a service listens: its gRPC address, /metrics address, message-size limit, plaintext health
// listener and transport security. Both services bind these the same way, so their YAML keys and
// flags cannot drift apart; each service gives its own defaults.
#pragma once

#include <string>

#include "server/common/service_config.h"
#include "server/common/transport_security.h"

namespace promptintern {

struct ListenerSettings {
  std::string listen;
  std::string metrics_listen;
  int max_message_bytes = 4 << 20;
  std::string health_listen;
  TransportSecuritySettings security;

  // Registers listen, metrics_listen, max_message_bytes, health_listen and the security settings.
  void Bind(ServiceConfig& config);
};

}  // namespace promptintern
