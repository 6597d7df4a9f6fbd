// The x86 CPU this process runs on, as cpuid and XGETBV report it: vendor, family/model, brand
// string and the instruction-set features that the BLAS dispatch and the weight kernels choose by.
//
// Decoding is separate from reading, so that the rules can be tested on recorded register values of
// CPUs this machine is not (Intel Sapphire/Emerald Rapids, Skylake-X, Haswell, older AMD): ReadCpuid()
// takes the snapshot, DecodeCpuid() is a pure function of it. A feature counts only when the
// operating system also saves its registers (XCR0), as an AVX-512 instruction faults otherwise.
// Torch-free; on a non-x86 build every feature reads false.
#pragma once

#include <cstdint>
#include <string>

namespace promptintern {

struct CpuidRegisters {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// The cpuid leaves the decoder reads, as the CPU returned them.
struct CpuidSnapshot {
  CpuidRegisters leaf0;        // highest leaf; vendor string in ebx, edx, ecx
  CpuidRegisters leaf1;        // signature (family/model/stepping) in eax; features in ecx, edx
  CpuidRegisters leaf7;        // leaf 7, subleaf 0: AVX2, AVX-512, AMX
  CpuidRegisters leaf7_1;      // leaf 7, subleaf 1: AVX512_BF16 (eax bit 5)
  CpuidRegisters ext_leaf0;    // 0x80000000: highest extended leaf
  CpuidRegisters brand[3];     // 0x80000002..0x80000004: brand string
  uint64_t xcr0 = 0;           // XGETBV(0) when the OS enabled XSAVE, else 0
};

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", "HygonGenuine", ...
  std::string brand;   // e.g. "Intel(R) Xeon(R) Platinum 8592+", trimmed; "" when not reported
  int family = 0;      // display family (base + extended)
  int model = 0;       // display model (extended << 4 | base, for families 6 and 15)
  int stepping = 0;

  bool sse3 = false, ssse3 = false, sse4_1 = false, sse4_2 = false, popcnt = false;
  // AVX-class features below are true only when XCR0 shows the OS saves the registers they use.
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;

  bool is_intel() const { return vendor == "GenuineIntel"; }
  // AMD and Hygon (Zen derivatives) share OpenBLAS's Zen kernels.
  bool is_amd_like() const { return vendor == "AuthenticAMD" || vendor == "HygonGenuine"; }
  // F, CD, BW, DQ and VL: the Skylake-X set that OpenBLAS's and this project's AVX-512 code need.
  bool avx512_skylake_set() const { return avx512f && avx512cd && avx512bw && avx512dq && avx512vl; }
  // "AMD EPYC 9654 (family 25 model 17)": for logs and metric labels.
  std::string Describe() const;
};

CpuFeatures DecodeCpuid(const CpuidSnapshot& snapshot);

// The snapshot of the CPU executing this call (all zero on a non-x86 build).
CpuidSnapshot ReadCpuid();

// DecodeCpuid(ReadCpuid()), computed once.
const CpuFeatures& HostCpu();

}  // namespace promptintern
