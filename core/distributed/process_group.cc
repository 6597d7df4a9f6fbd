#include "core/distributed/process_group.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

std::chrono::milliseconds Milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// An unset or empty variable leaves `value` alone.
absl::Status ReadIntVariable(const char* name, int* value) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return absl::OkStatus();
  if (!absl::SimpleAtoi(text, value)) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "='", text, "' is not an integer"));
  }
  return absl::OkStatus();
}

// Runs `collective` on one buffer holding all of `tensors`, then copies the result back: a whole
// model costs one collective instead of one per parameter.
template <typename Collective>
void OnFlattened(const std::vector<at::Tensor>& tensors, Collective&& collective) {
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const at::Tensor& tensor : tensors) flat.push_back(tensor.detach().reshape({-1}));
  std::vector<at::Tensor> buffer = {at::cat(flat)};
  collective(buffer);
  int64_t offset = 0;
  for (const at::Tensor& tensor : tensors) {
    const int64_t count = tensor.numel();
    tensor.detach().view({-1}).copy_(buffer[0].narrow(0, offset, count));
    offset += count;
  }
}

double ReduceScalar(c10d::ProcessGroupGloo& group, double value, c10d::ReduceOp op) {
  std::vector<at::Tensor> buffer = {at::tensor({value}, at::kDouble)};
  c10d::AllreduceOptions options;
  options.reduceOp = op;
  group.allreduce(buffer, options)->wait();
  return buffer[0].item<double>();
}

}  // namespace

absl::Status DistributedConfig::Validate() const {
  if (world_size < 1) return absl::InvalidArgumentError(absl::StrCat("WORLD_SIZE must be >= 1, got ", world_size));
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("RANK must be in [0, ", world_size, "), got ", rank));
  }
  if (!distributed()) return absl::OkStatus();
  if (master_addr.empty()) return absl::InvalidArgumentError("MASTER_ADDR is empty");
  if (master_port < 1 || master_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("MASTER_PORT must be in [1, 65535], got ", master_port));
  }
  if (!(rendezvous_timeout_seconds > 0) || !(collective_timeout_seconds > 0)) {
    return absl::InvalidArgumentError("distributed timeouts must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<DistributedConfig> DistributedConfigFromEnvironment() {
  DistributedConfig config;
  RETURN_IF_ERROR(ReadIntVariable("WORLD_SIZE", &config.world_size));
  RETURN_IF_ERROR(ReadIntVariable("RANK", &config.rank));
  RETURN_IF_ERROR(ReadIntVariable("MASTER_PORT", &config.master_port));
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr) config.master_addr = addr;
  if (config.distributed() && std::getenv("RANK") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("WORLD_SIZE is ", config.world_size, " but RANK is not set"));
  }
  RETURN_IF_ERROR(config.Validate());
  return config;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl, int rank, int world_size)
    : impl_(std::move(impl)), rank_(rank), world_size_(world_size) {}

ProcessGroup::~ProcessGroup() = default;

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Join(const DistributedConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  auto impl = std::make_unique<Impl>();
  const std::string context = absl::StrCat("joining ", config.world_size, " ranks as rank ", config.rank, " at ",
                                           config.master_addr, ":", config.master_port);
  RETURN_IF_ERROR(CallTorchVoid(context, [&] {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(config.master_port);
    store_options.isServer = config.rank == 0;
    store_options.numWorkers = config.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = Milliseconds(config.rendezvous_timeout_seconds);
    impl->store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, store_options);
    auto options = c10d::ProcessGroupGloo::Options::create(Milliseconds(config.collective_timeout_seconds));
    // Same choice as torch.distributed: an explicit interface when given, else this host's address.
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0') {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, config.rank, config.world_size, options);
  }));
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl), config.rank, config.world_size));
}

absl::Status ProcessGroup::AllReduceSum(const std::vector<at::Tensor>& tensors, const std::string& what) {
  if (tensors.empty()) return absl::OkStatus();
  return CallTorchVoid(absl::StrCat("summing ", what, " across ", world_size_, " ranks"), [&] {
    OnFlattened(tensors, [&](std::vector<at::Tensor>& buffer) { impl_->group->allreduce(buffer)->wait(); });
  });
}

absl::StatusOr<double> ProcessGroup::AllReduceSum(double value, const std::string& what) {
  return CallTorch(absl::StrCat("summing ", what, " across ", world_size_, " ranks"),
                   [&] { return ReduceScalar(*impl_->group, value, c10d::ReduceOp::SUM); });
}

absl::StatusOr<double> ProcessGroup::AllReduceMax(double value, const std::string& what) {
  return CallTorch(absl::StrCat("taking the maximum of ", what, " across ", world_size_, " ranks"),
                   [&] { return ReduceScalar(*impl_->group, value, c10d::ReduceOp::MAX); });
}

absl::Status ProcessGroup::Broadcast(const std::vector<at::Tensor>& tensors, int root, const std::string& what) {
  if (tensors.empty()) return absl::OkStatus();
  return CallTorchVoid(absl::StrCat("broadcasting ", what, " from rank ", root), [&] {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    OnFlattened(tensors, [&](std::vector<at::Tensor>& buffer) { impl_->group->broadcast(buffer, options)->wait(); });
  });
}

absl::StatusOr<std::string> ProcessGroup::BroadcastString(const std::string& value, int root, const std::string& what) {
  return CallTorch(absl::StrCat("broadcasting ", what, " from rank ", root), [&] {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    std::vector<at::Tensor> size = {at::tensor({static_cast<int64_t>(value.size())}, at::kLong)};
    impl_->group->broadcast(size, options)->wait();
    const int64_t length = size[0].item<int64_t>();
    // An empty tensor has no storage (a null data pointer): nothing to copy or send.
    if (length == 0) return std::string();
    std::vector<at::Tensor> bytes = {at::empty({length}, at::kByte)};
    if (rank_ == root) std::memcpy(bytes[0].data_ptr<uint8_t>(), value.data(), value.size());
    impl_->group->broadcast(bytes, options)->wait();
    return std::string(reinterpret_cast<const char*>(bytes[0].data_ptr<uint8_t>()), static_cast<size_t>(length));
  });
}

}  // namespace promptintern
