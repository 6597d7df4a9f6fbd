// The RPC edge: absl::Status from core/ becomes grpc::Status with the same code and message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace promptintern {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace promptintern
