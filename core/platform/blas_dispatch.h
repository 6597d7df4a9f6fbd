// BLAS that fits the CPU: makes OpenBLAS run the kernels of the CPU it is on, for every binary.
//
// OpenBLAS (DYNAMIC_ARCH builds, as Debian's) picks its kernels once, when the library loads, from
// a table of CPU models. A model the table does not know falls back to `Prescott`, the generic SSE3
// kernels: Debian 12's OpenBLAS 0.3.21 does that on Intel Emerald Rapids (family 6 model 207), and
// on any other model newer than the release, 3-6x slower on every matmul. The only remedy is the
// OPENBLAS_CORETYPE variable, which OpenBLAS reads while it loads, before main() runs.
//
// ConfigureBlasForCpu(), the first call of every main(), therefore compares the kernel OpenBLAS
// chose (openblas_get_corename(), looked up at run time with dlsym, so another BLAS behind
// libblas.so.3 simply reports "not OpenBLAS") with the best kernel for the features cpuid reports
// (BestOpenBlasCore). When OpenBLAS chose a weaker instruction set, the process re-executes itself
// once (/proc/self/exe, same argv) with OPENBLAS_CORETYPE set; the re-executed process sees the
// variable and never re-executes again. A user's own OPENBLAS_CORETYPE always wins: it is logged,
// never replaced. Either way one line on stderr names the kernel in use, and CurrentBlas() hands the
// same facts to the services' promptintern_blas_info metric.
//
// Environment:
//   OPENBLAS_CORETYPE                  the user's choice (wins), or this module's on re-execution.
//   PROMPTINTERN_BLAS_OVERRIDE         set by this module on re-execution: "<requested>:<chosen>".
//   PROMPTINTERN_BLAS_SIMULATE_CHOICE  tests only: treat OpenBLAS's own choice as this core name,
//                                      so the re-execution can be exercised on a CPU OpenBLAS knows.
// Torch-free.
#pragma once

#include <string>
#include <string_view>

#include "core/platform/cpu_features.h"

namespace promptintern {

// Instruction-set rank of an x86 OpenBLAS core name (case-insensitive): 0 SSE..SSE3 (Prescott),
// 1 SSSE3 (Core2), 2 SSE4 (Nehalem), 3 AVX (Sandybridge), 4 AVX2+FMA (Haswell, Zen), 5 AVX-512
// (SkylakeX), 6 AVX-512 with BF16 (Cooperlake, SapphireRapids). -1 for a name not in the table.
int OpenBlasCoreTier(std::string_view core);

// The OpenBLAS core to run on `cpu`: the highest tier its features allow, named as OpenBLAS 0.3.21's
// DYNAMIC_ARCH build accepts it (Cooperlake, SkylakeX, Zen for AMD/Hygon or Haswell, Sandybridge,
// Nehalem, Core2, Prescott). SapphireRapids is never requested: 0.3.21 does not know the name, and
// its single-precision kernels are Cooperlake's (it adds AMX only to bfloat16 GEMM, which libtorch
// does not call); a newer OpenBLAS that picks it itself is left alone (same tier).
std::string BestOpenBlasCore(const CpuFeatures& cpu);

enum class BlasSource {
  kDetected,    // OpenBLAS's own choice, and it is the best for the CPU (or cannot be improved)
  kOverride,    // this module re-executed the process with OPENBLAS_CORETYPE
  kUser,        // the user's OPENBLAS_CORETYPE
  kNotOpenBlas  // another BLAS library: nothing to check
};
std::string_view BlasSourceName(BlasSource source);  // "detected", "override", "user", "none"

// What the startup check decides, from its inputs alone (no environment, no exec): testable.
struct BlasDecision {
  bool reexec = false;
  std::string requested_core;  // the OPENBLAS_CORETYPE to re-execute with, when reexec
  BlasSource source = BlasSource::kDetected;
  std::string chosen_by_openblas;  // for kOverride: what OpenBLAS had picked before re-execution
};
struct BlasInputs {
  bool is_openblas = false;
  bool dynamic_arch = false;      // OPENBLAS_CORETYPE has an effect only in DYNAMIC_ARCH builds
  std::string chosen_core;        // openblas_get_corename()
  const char* coretype_env = nullptr;  // OPENBLAS_CORETYPE, nullptr when unset
  const char* override_env = nullptr;  // PROMPTINTERN_BLAS_OVERRIDE, nullptr when unset
};
BlasDecision DecideBlasCore(const CpuFeatures& cpu, const BlasInputs& inputs);

// The BLAS this process computes with, for the log line and the info metric.
struct BlasState {
  std::string library;  // "openblas", or "unknown" for another BLAS
  std::string version;  // "0.3.21" (from openblas_get_config), "" when unknown
  std::string kernel;   // openblas_get_corename(), "" when not OpenBLAS
  std::string best;     // BestOpenBlasCore(HostCpu())
  std::string cpu;      // HostCpu().Describe()
  BlasSource source = BlasSource::kNotOpenBlas;
  std::string detail;   // the rest of the log line: who chose the kernel, any mismatch
  std::string LogLine() const;  // "BLAS: OpenBLAS 0.3.21, kernel Cooperlake (...), CPU ..."
};

// Run first in main(), before any thread starts. May replace the process (execv) and then does not
// return; otherwise logs "<program>: <LogLine>" to stderr and returns the state. Later calls return
// the first state.
const BlasState& ConfigureBlasForCpu(int argc, char** argv, const char* program);

// The state recorded by ConfigureBlasForCpu (computed without re-execution if it was not called).
const BlasState& CurrentBlas();

}  // namespace promptintern
