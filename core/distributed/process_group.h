// Data-parallel training across processes on libtorch's own distributed runtime (c10d): ranks meet
// through a TCPStore on the master and exchange tensors over a Gloo process group (CPU tensors).
//
// Configuration follows the torchrun / Kubeflow PyTorchJob convention: MASTER_ADDR, MASTER_PORT,
// WORLD_SIZE and RANK in the environment. Rank 0 hosts the store. Every collective is blocking and
// must be entered by every rank in the same order; a rank that dies makes the others fail with an
// error (after the collective timeout at worst), never hang forever.
//
// This build of libtorch is CPU-only, so Gloo is the only backend; a CUDA build would pick NCCL here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace at {
class Tensor;
}

namespace promptintern {

struct DistributedConfig {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int world_size = 1;
  int rank = 0;
  // How long rank 0 waits for every rank to join, and any rank for the store.
  double rendezvous_timeout_seconds = 300;
  // How long a collective may wait for the slowest rank (rank 0 evaluates between steps).
  double collective_timeout_seconds = 1800;

  bool distributed() const { return world_size > 1; }
  absl::Status Validate() const;
};

// Reads MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK. Without WORLD_SIZE (or with 1) the result is
// a single-process configuration; a set but malformed variable is an error that names it.
absl::StatusOr<DistributedConfig> DistributedConfigFromEnvironment();

class ProcessGroup {
 public:
  // Blocks until all `config.world_size` ranks have joined (or the rendezvous times out).
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Join(const DistributedConfig& config);
  ~ProcessGroup();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // Sums in place across ranks. Tensors are flattened into one buffer so that a whole model's
  // gradients cost one collective, not one per parameter.
  absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors, const std::string& what);
  absl::StatusOr<double> AllReduceSum(double value, const std::string& what);
  absl::StatusOr<double> AllReduceMax(double value, const std::string& what);
  // Overwrites every rank's tensors with rank `root`'s.
  absl::Status Broadcast(const std::vector<at::Tensor>& tensors, int root, const std::string& what);
  // Every rank gets rank `root`'s string (the others' `value` is ignored).
  absl::StatusOr<std::string> BroadcastString(const std::string& value, int root, const std::string& what);

 private:
  struct Impl;
  ProcessGroup(std::unique_ptr<Impl> impl, int rank, int world_size);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int world_size_ = 1;
};

}  // namespace promptintern
