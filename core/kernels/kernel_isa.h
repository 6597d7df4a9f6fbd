// Which instruction set the weight kernels (core/kernels/packed_linear.h) run with, chosen at run
// time from cpuid, never at compile time: one binary runs at full speed on AVX-512 servers and
// correctly on anything x86-64.
//
// The level can be capped, never raised above what the CPU supports: by PROMPTINTERN_KERNEL_ISA
// (scalar, avx2, avx512, avx512_bf16; read at the first kernel call) or by LimitKernelIsa, which
// is how the tests exercise every fallback path on one machine. Torch-free.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/platform/cpu_features.h"

namespace promptintern {

enum class KernelIsa {
  kScalar = 0,      // portable C++
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // AVX-512 F/BW/DQ/VL
  kAvx512Bf16 = 3,  // kAvx512 + AVX512_BF16 (vdpbf16ps for bfloat16 weights)
};

std::string_view KernelIsaName(KernelIsa isa);  // "scalar", "avx2", "avx512", "avx512_bf16"
absl::StatusOr<KernelIsa> ParseKernelIsa(std::string_view name);

// The highest level `cpu` supports.
KernelIsa SupportedKernelIsa(const CpuFeatures& cpu);

// The level the kernels use now: SupportedKernelIsa(HostCpu()), capped by the limit.
KernelIsa ActiveKernelIsa();

// Caps the level (process-wide). INVALID_ARGUMENT when this CPU cannot run `isa`.
absl::Status LimitKernelIsa(KernelIsa isa);

// For tests: caps the level for its lifetime, then restores the previous cap.
class ScopedKernelIsaLimit {
 public:
  explicit ScopedKernelIsaLimit(KernelIsa isa);
  ~ScopedKernelIsaLimit();
  ScopedKernelIsaLimit(const ScopedKernelIsaLimit&) = delete;
  ScopedKernelIsaLimit& operator=(const ScopedKernelIsaLimit&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  KernelIsa previous_;
  absl::Status status_;
};

}  // namespace promptintern
