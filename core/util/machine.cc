#include "core/util/machine.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/util/file.h"

namespace promptintern {
namespace {

constexpr char kCgroupRoot[] = "/sys/fs/cgroup/";

// The words of a small cgroup file, or none when it is absent or unreadable.
std::vector<std::string> CgroupWords(const char* name) {
  ReadLimits limits;
  limits.max_bytes = 4096;
  const absl::StatusOr<std::string> text = ReadFile(std::string(kCgroupRoot) + name, limits);
  if (!text.ok()) return {};
  return absl::StrSplit(absl::StripAsciiWhitespace(*text), ' ', absl::SkipEmpty());
}

int DetectCores() {
  int cores = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  if (cores <= 0) cores = static_cast<int>(std::thread::hardware_concurrency());
  // cpu.max: "<quota> <period>" in microseconds, or "max <period>" without a quota.
  const std::vector<std::string> quota = CgroupWords("cpu.max");
  double allowed = 0, period = 0;
  if (quota.size() == 2 && absl::SimpleAtod(quota[0], &allowed) && absl::SimpleAtod(quota[1], &period) &&
      allowed > 0 && period > 0) {
    cores = std::min(cores, std::max(1, static_cast<int>(std::ceil(allowed / period))));
  }
  return std::max(cores, 1);
}

uint64_t DetectMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  uint64_t memory = pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
                                               : MachineLimits().memory_bytes;
  const std::vector<std::string> limit = CgroupWords("memory.max");  // a byte count or "max"
  uint64_t cgroup_bytes = 0;
  if (limit.size() == 1 && absl::SimpleAtoi(limit[0], &cgroup_bytes) && cgroup_bytes > 0) {
    memory = std::min(memory, cgroup_bytes);
  }
  return memory;
}

}  // namespace

MachineLimits MachineLimits::Detect() {
  MachineLimits limits;
  limits.cores = DetectCores();
  limits.memory_bytes = DetectMemory();
  return limits;
}

}  // namespace promptintern
