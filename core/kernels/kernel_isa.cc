#include "core/kernels/kernel_isa.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace promptintern {
namespace {

constexpr KernelIsa kAllLevels[] = {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512, KernelIsa::kAvx512Bf16};

// The cap, as an int; -1 until the environment has been read.
std::atomic<int> g_limit{-1};

int InitialLimit() {
  const KernelIsa supported = SupportedKernelIsa(HostCpu());
  const char* value = std::getenv("PROMPTINTERN_KERNEL_ISA");
  if (value == nullptr || *value == '\0') return static_cast<int>(supported);
  auto parsed = ParseKernelIsa(value);
  if (!parsed.ok()) {
    std::fprintf(stderr, "promptintern: ignoring PROMPTINTERN_KERNEL_ISA: %s\n", std::string(parsed.status().message()).c_str());
    return static_cast<int>(supported);
  }
  if (*parsed > supported) {
    std::fprintf(stderr, "promptintern: PROMPTINTERN_KERNEL_ISA=%s is more than this CPU supports; using %s\n", value,
                 std::string(KernelIsaName(supported)).c_str());
    return static_cast<int>(supported);
  }
  return static_cast<int>(*parsed);
}

int Limit() {
  int limit = g_limit.load(std::memory_order_acquire);
  if (limit < 0) {
    int expected = -1;
    g_limit.compare_exchange_strong(expected, InitialLimit(), std::memory_order_acq_rel);
    limit = g_limit.load(std::memory_order_acquire);
  }
  return limit;
}

}  // namespace

std::string_view KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return "scalar";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
    case KernelIsa::kAvx512Bf16:
      return "avx512_bf16";
  }
  return "scalar";
}

absl::StatusOr<KernelIsa> ParseKernelIsa(std::string_view name) {
  for (KernelIsa isa : kAllLevels) {
    if (KernelIsaName(isa) == name) return isa;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kernel instruction set '", std::string(name), "' (scalar, avx2, avx512, avx512_bf16)"));
}

KernelIsa SupportedKernelIsa(const CpuFeatures& cpu) {
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512dq && cpu.avx512vl && cpu.avx2 && cpu.fma && cpu.f16c) {
    return cpu.avx512_bf16 ? KernelIsa::kAvx512Bf16 : KernelIsa::kAvx512;
  }
  if (cpu.avx2 && cpu.fma && cpu.f16c) return KernelIsa::kAvx2;
  return KernelIsa::kScalar;
}

KernelIsa ActiveKernelIsa() { return static_cast<KernelIsa>(Limit()); }

absl::Status LimitKernelIsa(KernelIsa isa) {
  const KernelIsa supported = SupportedKernelIsa(HostCpu());
  if (isa > supported) {
    return absl::InvalidArgumentError(absl::StrCat("this CPU cannot run the ", std::string(KernelIsaName(isa)),
                                                   " kernels (it supports ", std::string(KernelIsaName(supported)), ")"));
  }
  g_limit.store(static_cast<int>(isa), std::memory_order_release);
  return absl::OkStatus();
}

ScopedKernelIsaLimit::ScopedKernelIsaLimit(KernelIsa isa) : previous_(ActiveKernelIsa()), status_(LimitKernelIsa(isa)) {}

ScopedKernelIsaLimit::~ScopedKernelIsaLimit() { g_limit.store(static_cast<int>(previous_), std::memory_order_release); }

}  // namespace promptintern
