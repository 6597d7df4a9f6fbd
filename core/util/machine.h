// What the machine running this process can do, for bounding work before it starts: a job that
// asks for more threads than there are cores, or more memory than there is, is refused up front
// instead of hanging in a thread pool or dying of std::bad_alloc halfway through.
#pragma once

#include <cstdint>

namespace promptintern {

struct MachineLimits {
  // Cores this process may run on: its CPU affinity mask, lowered by a cgroup v2 CPU quota
  // (a container limited to 2 CPUs of a 64-core host has 2).
  int cores = 1;
  // Physical memory, lowered by a cgroup v2 memory limit (a Kubernetes pod's limit).
  uint64_t memory_bytes = uint64_t{1} << 30;

  static MachineLimits Detect();
};

}  // namespace promptintern
