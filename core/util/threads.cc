#include "core/util/threads.h"

#include <ATen/Parallel.h>

#include "core/util/machine.h"

namespace promptintern {

int SetComputeThreads(int threads) {
  // The cores this process may use (its affinity and cgroup CPU quota), not the host's: a pod
  // limited to 4 CPUs on a 64-core node gets 4.
  if (threads <= 0) threads = MachineLimits::Detect().cores;
  at::set_num_threads(threads);
  return threads;
}

}  // namespace promptintern
