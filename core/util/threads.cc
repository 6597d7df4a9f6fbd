#include "core/util/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace promptintern {

int SetComputeThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return threads;
}

}  // namespace promptintern
