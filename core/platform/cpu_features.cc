#include "core/platform/cpu_features.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PROMPTINTERN_X86 1
#endif

namespace promptintern {
namespace {

bool Bit(uint32_t value, int bit) { return ((value >> bit) & 1u) != 0; }

std::string RegistersToString(const CpuidRegisters* registers, int count, bool vendor_order) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    const CpuidRegisters& r = registers[i];
    const uint32_t words[4] = {r.eax, r.ebx, r.ecx, r.edx};
    for (uint32_t word : words) {
      for (int byte = 0; byte < 4; ++byte) text.push_back(static_cast<char>((word >> (8 * byte)) & 0xff));
    }
  }
  if (vendor_order) {
    // The vendor string is ebx, edx, ecx of leaf 0.
    const std::string raw = text;
    text = raw.substr(4, 4) + raw.substr(12, 4) + raw.substr(8, 4);
  }
  return text;
}

std::string Trim(std::string text) {
  text = text.substr(0, std::strlen(text.c_str()));  // up to the first NUL
  const size_t begin = text.find_first_not_of(' ');
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(' ');
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::string CpuFeatures::Describe() const {
  std::string text = brand.empty() ? vendor : brand;
  return text + " (family " + std::to_string(family) + " model " + std::to_string(model) + ")";
}

CpuFeatures DecodeCpuid(const CpuidSnapshot& snapshot) {
  CpuFeatures cpu;
  cpu.vendor = RegistersToString(&snapshot.leaf0, 1, /*vendor_order=*/true);
  if (snapshot.ext_leaf0.eax >= 0x80000004u) cpu.brand = Trim(RegistersToString(snapshot.brand, 3, false));

  const uint32_t max_leaf = snapshot.leaf0.eax;
  if (max_leaf < 1) return cpu;
  const uint32_t signature = snapshot.leaf1.eax;
  const int base_family = (signature >> 8) & 0xf;
  const int base_model = (signature >> 4) & 0xf;
  cpu.family = base_family == 0xf ? base_family + static_cast<int>((signature >> 20) & 0xff) : base_family;
  cpu.model = (base_family == 0x6 || base_family == 0xf) ? static_cast<int>(((signature >> 16) & 0xf) << 4) + base_model
                                                          : base_model;
  cpu.stepping = signature & 0xf;

  const uint32_t ecx1 = snapshot.leaf1.ecx;
  cpu.sse3 = Bit(ecx1, 0);
  cpu.ssse3 = Bit(ecx1, 9);
  cpu.sse4_1 = Bit(ecx1, 19);
  cpu.sse4_2 = Bit(ecx1, 20);
  cpu.popcnt = Bit(ecx1, 23);

  // XCR0: bit 1 SSE, bit 2 AVX (upper YMM), bits 5-7 opmask and ZMM state, bits 17-18 AMX tiles.
  const bool osxsave = Bit(ecx1, 27);
  const uint64_t xcr0 = osxsave ? snapshot.xcr0 : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
  const bool os_tiles = (xcr0 & 0x60000) == 0x60000;

  cpu.avx = os_ymm && Bit(ecx1, 28);
  cpu.fma = cpu.avx && Bit(ecx1, 12);
  cpu.f16c = cpu.avx && Bit(ecx1, 29);
  if (max_leaf < 7) return cpu;
  const CpuidRegisters& l7 = snapshot.leaf7;
  cpu.avx2 = cpu.avx && Bit(l7.ebx, 5);
  cpu.avx512f = os_zmm && Bit(l7.ebx, 16);
  cpu.avx512dq = cpu.avx512f && Bit(l7.ebx, 17);
  cpu.avx512cd = cpu.avx512f && Bit(l7.ebx, 28);
  cpu.avx512bw = cpu.avx512f && Bit(l7.ebx, 30);
  cpu.avx512vl = cpu.avx512f && Bit(l7.ebx, 31);
  cpu.avx512_vnni = cpu.avx512f && Bit(l7.ecx, 11);
  cpu.avx512_fp16 = cpu.avx512f && Bit(l7.edx, 23);
  cpu.amx_bf16 = os_tiles && Bit(l7.edx, 22);
  cpu.amx_tile = os_tiles && Bit(l7.edx, 24);
  cpu.amx_int8 = os_tiles && Bit(l7.edx, 25);
  // Subleaf 1 exists when leaf 7 subleaf 0 reports a highest subleaf of at least 1.
  cpu.avx512_bf16 = cpu.avx512f && l7.eax >= 1 && Bit(snapshot.leaf7_1.eax, 5);
  return cpu;
}

CpuidSnapshot ReadCpuid() {
  CpuidSnapshot snapshot;
#ifdef PROMPTINTERN_X86
  auto read = [](uint32_t leaf, uint32_t subleaf, CpuidRegisters* r) {
    __cpuid_count(leaf, subleaf, r->eax, r->ebx, r->ecx, r->edx);
  };
  read(0, 0, &snapshot.leaf0);
  if (snapshot.leaf0.eax >= 1) read(1, 0, &snapshot.leaf1);
  if (snapshot.leaf0.eax >= 7) {
    read(7, 0, &snapshot.leaf7);
    if (snapshot.leaf7.eax >= 1) read(7, 1, &snapshot.leaf7_1);
  }
  read(0x80000000u, 0, &snapshot.ext_leaf0);
  if (snapshot.ext_leaf0.eax >= 0x80000004u) {
    for (uint32_t i = 0; i < 3; ++i) read(0x80000002u + i, 0, &snapshot.brand[i]);
  }
  if (Bit(snapshot.leaf1.ecx, 27)) {  // OSXSAVE: XGETBV is available
    uint32_t low = 0, high = 0;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    snapshot.xcr0 = (static_cast<uint64_t>(high) << 32) | low;
  }
#endif
  return snapshot;
}

const CpuFeatures& HostCpu() {
  static const CpuFeatures* const cpu = new CpuFeatures(DecodeCpuid(ReadCpuid()));
  return *cpu;
}

}  // namespace promptintern
