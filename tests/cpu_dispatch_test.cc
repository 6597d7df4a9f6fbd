// CPU feature decoding, the OpenBLAS core table and the re-execution decision, on register values of
// CPUs this machine is not: the decisions for Intel Sapphire/Emerald Rapids are checked here
// because they cannot be run here.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "core/kernels/kernel_isa.h"
#include "core/platform/blas_dispatch.h"
#include "core/platform/cpu_features.h"

namespace promptintern {
namespace {

uint32_t Bits(std::initializer_list<int> bits) {
  uint32_t value = 0;
  for (int bit : bits) value |= 1u << bit;
  return value;
}

// Vendor string as cpuid leaf 0 returns it (ebx, edx, ecx).
void SetVendor(CpuidSnapshot& s, const char (&vendor)[13], uint32_t max_leaf) {
  auto word = [&](int offset) {
    return static_cast<uint32_t>(static_cast<unsigned char>(vendor[offset])) |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[offset + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[offset + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[offset + 3])) << 24;
  };
  s.leaf0 = {max_leaf, word(0), word(8), word(4)};
}

// Leaf 1 ecx bits: SSE3 0, SSSE3 9, FMA 12, SSE4.1 19, SSE4.2 20, POPCNT 23, OSXSAVE 27, AVX 28, F16C 29.
const uint32_t kSse42 = Bits({0, 9, 19, 20, 23});
const uint32_t kAvxEcx = kSse42 | Bits({27, 28});
const uint32_t kAvx2Ecx = kAvxEcx | Bits({12, 29});
// Leaf 7 ebx bits: AVX2 5, AVX512F 16, DQ 17, CD 28, BW 30, VL 31.
const uint32_t kAvx2Ebx = Bits({5});
const uint32_t kSkylakeXEbx = kAvx2Ebx | Bits({16, 17, 28, 30, 31});
const uint64_t kXcr0Ymm = 0x7;     // x87, SSE, AVX
const uint64_t kXcr0Zmm = 0xe7;    // + opmask, ZMM_Hi256, Hi16_ZMM
const uint64_t kXcr0Tiles = 0x600e7;  // + AMX TILECFG, TILEDATA

// A CPU by its cpuid signature (leaf 1 eax, as the part reports it) and the features it has.
CpuidSnapshot Cpu(const char (&vendor)[13], uint32_t signature, uint32_t ecx1, uint32_t ebx7, uint32_t ecx7,
                  uint32_t edx7, bool avx512_bf16, uint64_t xcr0) {
  CpuidSnapshot s;
  SetVendor(s, vendor, 0x1f);
  s.leaf1 = {signature, 0, ecx1, Bits({25, 26})};
  s.leaf7 = {1, ebx7, ecx7, edx7};
  s.leaf7_1 = {avx512_bf16 ? Bits({5}) : 0u, 0, 0, 0};
  s.xcr0 = xcr0;
  return s;
}

// Leaf 7 ecx: AVX512_VNNI 11. edx: AMX_BF16 22, AVX512_FP16 23, AMX_TILE 24, AMX_INT8 25.
const uint32_t kVnni = Bits({11});
const uint32_t kAmx = Bits({22, 23, 24, 25});

CpuidSnapshot SapphireRapids() {  // Xeon Platinum 8480+: family 6 model 143
  return Cpu("GenuineIntel", 0x000806f8, kAvx2Ecx, kSkylakeXEbx, kVnni, kAmx, true, kXcr0Tiles);
}
CpuidSnapshot EmeraldRapids() {  // Xeon Platinum 8592+: family 6 model 207
  return Cpu("GenuineIntel", 0x000c06f2, kAvx2Ecx, kSkylakeXEbx, kVnni, kAmx, true, kXcr0Tiles);
}
CpuidSnapshot GraniteRapids() {  // Xeon 6 6980P: family 6 model 173
  return Cpu("GenuineIntel", 0x000a06d1, kAvx2Ecx, kSkylakeXEbx, kVnni, kAmx, true, kXcr0Tiles);
}
CpuidSnapshot CooperLake() {  // Xeon Platinum 8380H: family 6 model 85 stepping 11
  return Cpu("GenuineIntel", 0x0005065b, kAvx2Ecx, kSkylakeXEbx, kVnni, 0, true, kXcr0Zmm);
}
CpuidSnapshot IceLakeServer() {  // Xeon Platinum 8380: family 6 model 106, AVX-512 without BF16
  return Cpu("GenuineIntel", 0x000606a6, kAvx2Ecx, kSkylakeXEbx, kVnni, 0, false, kXcr0Zmm);
}
CpuidSnapshot SkylakeServer() {  // Xeon Platinum 8180: family 6 model 85 stepping 4
  return Cpu("GenuineIntel", 0x00050654, kAvx2Ecx, kSkylakeXEbx, 0, 0, false, kXcr0Zmm);
}
CpuidSnapshot RaptorLake() {  // Core i9-13900K: family 6 model 183, AVX2 only
  return Cpu("GenuineIntel", 0x000b0671, kAvx2Ecx, kAvx2Ebx, 0, 0, false, kXcr0Ymm);
}
CpuidSnapshot HaswellServer() {  // Xeon E5-2699 v3: family 6 model 63
  return Cpu("GenuineIntel", 0x000306f2, kAvx2Ecx, kAvx2Ebx, 0, 0, false, kXcr0Ymm);
}
CpuidSnapshot SandyBridge() {  // Xeon E5-2670: family 6 model 45, AVX without FMA or AVX2
  return Cpu("GenuineIntel", 0x000206d7, kAvxEcx, 0, 0, 0, false, kXcr0Ymm);
}
CpuidSnapshot Zen3() {  // EPYC 7763: family 25 model 1
  return Cpu("AuthenticAMD", 0x00a00f11, kAvx2Ecx, kAvx2Ebx, 0, 0, false, kXcr0Ymm);
}
CpuidSnapshot Zen2() {  // EPYC 7742: family 23 model 49
  return Cpu("AuthenticAMD", 0x00830f10, kAvx2Ecx, kAvx2Ebx, 0, 0, false, kXcr0Ymm);
}

// This project's reference machine, as its cpuid and XGETBV returned them (a KVM guest).
CpuidSnapshot RecordedEpycZen4() {
  CpuidSnapshot s;
  s.leaf0 = {0x0000001c, 0x68747541, 0x444d4163, 0x69746e65};
  s.leaf1 = {0x00a10f11, 0x01020800, 0xfffa3203, 0x178bfbff};
  s.leaf7 = {0x00000001, 0xf1bf07ab, 0x00405fc6, 0x00000010};
  s.leaf7_1 = {0x00000020, 0, 0, 0};
  s.ext_leaf0 = {0x80000021, 0x68747541, 0x444d4163, 0x69746e65};
  s.brand[0] = {0x20444d41, 0x43595045, 0, 0};
  s.xcr0 = 0xe7;
  return s;
}

TEST(CpuFeaturesTest, DecodesTheRecordedZen4Guest) {
  const CpuFeatures cpu = DecodeCpuid(RecordedEpycZen4());
  EXPECT_EQ(cpu.vendor, "AuthenticAMD");
  EXPECT_EQ(cpu.brand, "AMD EPYC");
  EXPECT_EQ(cpu.family, 25);
  EXPECT_EQ(cpu.model, 17);
  EXPECT_EQ(cpu.stepping, 1);
  EXPECT_TRUE(cpu.avx2 && cpu.fma && cpu.f16c);
  EXPECT_TRUE(cpu.avx512_skylake_set());
  EXPECT_TRUE(cpu.avx512_bf16);
  EXPECT_TRUE(cpu.avx512_vnni);
  EXPECT_FALSE(cpu.avx512_fp16);
  EXPECT_FALSE(cpu.amx_tile);
  EXPECT_EQ(cpu.Describe(), "AMD EPYC (family 25 model 17)");
}

TEST(CpuFeaturesTest, FamilyAndModelFollowTheExtendedFields) {
  EXPECT_EQ(DecodeCpuid(SapphireRapids()).model, 143);
  EXPECT_EQ(DecodeCpuid(EmeraldRapids()).model, 207);
  EXPECT_EQ(DecodeCpuid(EmeraldRapids()).family, 6);
  EXPECT_EQ(DecodeCpuid(Zen2()).family, 23);
  EXPECT_EQ(DecodeCpuid(Zen2()).model, 49);
}

TEST(CpuFeaturesTest, AmxCountsOnlyWithTileStateEnabled) {
  EXPECT_TRUE(DecodeCpuid(SapphireRapids()).amx_bf16);
  CpuidSnapshot no_tiles = SapphireRapids();
  no_tiles.xcr0 = kXcr0Zmm;
  EXPECT_FALSE(DecodeCpuid(no_tiles).amx_bf16);
  EXPECT_TRUE(DecodeCpuid(no_tiles).avx512_bf16);
}

// A hypervisor that exposes the AVX-512 cpuid bits without enabling the ZMM state: AVX-512 code
// would fault, so nothing may choose it.
TEST(CpuFeaturesTest, AvxFeaturesNeedTheOperatingSystemToSaveTheirRegisters) {
  CpuidSnapshot guest = SkylakeServer();
  guest.xcr0 = kXcr0Ymm;
  const CpuFeatures cpu = DecodeCpuid(guest);
  EXPECT_TRUE(cpu.avx2);
  EXPECT_FALSE(cpu.avx512f);
  EXPECT_EQ(BestOpenBlasCore(cpu), "Haswell");
  EXPECT_EQ(SupportedKernelIsa(cpu), KernelIsa::kAvx2);

  guest.leaf1.ecx &= ~Bits({27});  // no OSXSAVE: XCR0 cannot even be read
  const CpuFeatures bare = DecodeCpuid(guest);
  EXPECT_FALSE(bare.avx);
  EXPECT_TRUE(bare.sse4_2);
  EXPECT_EQ(BestOpenBlasCore(bare), "Nehalem");
  EXPECT_EQ(SupportedKernelIsa(bare), KernelIsa::kScalar);
}

struct Expected {
  const char* name;
  CpuidSnapshot (*cpu)();
  const char* core;
  KernelIsa isa;
};

// The table, CPU by CPU: SapphireRapids is never requested (Debian's OpenBLAS 0.3.21 does not know
// the name), AMD gets Zen rather than Haswell for AVX2.
TEST(BlasDispatchTest, BestCoreForEachRecordedCpu) {
  const Expected table[] = {
      {"Emerald Rapids", EmeraldRapids, "Cooperlake", KernelIsa::kAvx512Bf16},
      {"Sapphire Rapids", SapphireRapids, "Cooperlake", KernelIsa::kAvx512Bf16},
      {"Granite Rapids", GraniteRapids, "Cooperlake", KernelIsa::kAvx512Bf16},
      {"Cooper Lake", CooperLake, "Cooperlake", KernelIsa::kAvx512Bf16},
      {"Ice Lake server", IceLakeServer, "SkylakeX", KernelIsa::kAvx512},
      {"Skylake server", SkylakeServer, "SkylakeX", KernelIsa::kAvx512},
      {"Raptor Lake", RaptorLake, "Haswell", KernelIsa::kAvx2},
      {"Haswell server", HaswellServer, "Haswell", KernelIsa::kAvx2},
      {"Sandy Bridge", SandyBridge, "Sandybridge", KernelIsa::kScalar},
      {"EPYC Zen 4 (recorded)", RecordedEpycZen4, "Cooperlake", KernelIsa::kAvx512Bf16},
      {"EPYC Zen 3", Zen3, "Zen", KernelIsa::kAvx2},
      {"EPYC Zen 2", Zen2, "Zen", KernelIsa::kAvx2},
  };
  for (const Expected& row : table) {
    const CpuFeatures cpu = DecodeCpuid(row.cpu());
    EXPECT_EQ(BestOpenBlasCore(cpu), row.core) << row.name;
    EXPECT_EQ(SupportedKernelIsa(cpu), row.isa) << row.name;
  }
}

TEST(BlasDispatchTest, CoreTiersRankInstructionSets) {
  EXPECT_EQ(OpenBlasCoreTier("Prescott"), 0);
  EXPECT_EQ(OpenBlasCoreTier("Core2"), 1);
  EXPECT_EQ(OpenBlasCoreTier("Nehalem"), 2);
  EXPECT_EQ(OpenBlasCoreTier("Sandybridge"), 3);
  EXPECT_EQ(OpenBlasCoreTier("Haswell"), OpenBlasCoreTier("Zen"));
  EXPECT_LT(OpenBlasCoreTier("Zen"), OpenBlasCoreTier("SkylakeX"));
  EXPECT_LT(OpenBlasCoreTier("SkylakeX"), OpenBlasCoreTier("Cooperlake"));
  EXPECT_EQ(OpenBlasCoreTier("cooperlake"), OpenBlasCoreTier("COOPERLAKE"));
  EXPECT_EQ(OpenBlasCoreTier("SapphireRapids"), OpenBlasCoreTier("Cooperlake"));
  EXPECT_EQ(OpenBlasCoreTier("Zen5"), -1);
  EXPECT_EQ(OpenBlasCoreTier(""), -1);
}

BlasInputs OpenBlas(const std::string& chosen) {
  BlasInputs inputs;
  inputs.is_openblas = true;
  inputs.dynamic_arch = true;
  inputs.chosen_core = chosen;
  return inputs;
}

// The failure of the issue: OpenBLAS 0.3.21 does not know model 207 and runs Prescott.
TEST(BlasDispatchTest, EmeraldRapidsOnPrescottReexecutesWithCooperlake) {
  const BlasDecision decision = DecideBlasCore(DecodeCpuid(EmeraldRapids()), OpenBlas("Prescott"));
  EXPECT_TRUE(decision.reexec);
  EXPECT_EQ(decision.requested_core, "Cooperlake");
}

TEST(BlasDispatchTest, AnyWeakerChoiceIsCorrected) {
  EXPECT_EQ(DecideBlasCore(DecodeCpuid(GraniteRapids()), OpenBlas("Prescott")).requested_core, "Cooperlake");
  EXPECT_EQ(DecideBlasCore(DecodeCpuid(SkylakeServer()), OpenBlas("Haswell")).requested_core, "SkylakeX");
  EXPECT_EQ(DecideBlasCore(DecodeCpuid(RaptorLake()), OpenBlas("Prescott")).requested_core, "Haswell");
  EXPECT_EQ(DecideBlasCore(DecodeCpuid(Zen3()), OpenBlas("Sandybridge")).requested_core, "Zen");
}

TEST(BlasDispatchTest, ChoicesAtTheBestTierAreKept) {
  for (const char* chosen : {"Cooperlake", "SapphireRapids"}) {
    const BlasDecision decision = DecideBlasCore(DecodeCpuid(SapphireRapids()), OpenBlas(chosen));
    EXPECT_FALSE(decision.reexec) << chosen;
    EXPECT_EQ(decision.source, BlasSource::kDetected);
  }
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(RecordedEpycZen4()), OpenBlas("Cooperlake")).reexec);
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(Zen3()), OpenBlas("Haswell")).reexec);  // same kernels' ISA
  // A name this table does not rank (a newer OpenBLAS) is not second-guessed.
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(EmeraldRapids()), OpenBlas("GraniteRapids")).reexec);
}

TEST(BlasDispatchTest, TheUsersSettingWinsAndIsNeverReplaced) {
  BlasInputs inputs = OpenBlas("Prescott");
  inputs.coretype_env = "Prescott";
  const BlasDecision decision = DecideBlasCore(DecodeCpuid(EmeraldRapids()), inputs);
  EXPECT_FALSE(decision.reexec);
  EXPECT_EQ(decision.source, BlasSource::kUser);
  // Also below a re-executed parent: the marker names another core, so the setting is the user's.
  inputs.override_env = "Cooperlake:Prescott";
  EXPECT_EQ(DecideBlasCore(DecodeCpuid(EmeraldRapids()), inputs).source, BlasSource::kUser);
}

TEST(BlasDispatchTest, TheReexecutedProcessRecognisesItsOverrideAndStops) {
  BlasInputs inputs = OpenBlas("Cooperlake");
  inputs.coretype_env = "Cooperlake";
  inputs.override_env = "Cooperlake:Prescott";
  const BlasDecision decision = DecideBlasCore(DecodeCpuid(EmeraldRapids()), inputs);
  EXPECT_FALSE(decision.reexec);
  EXPECT_EQ(decision.source, BlasSource::kOverride);
  EXPECT_EQ(decision.chosen_by_openblas, "Prescott");
  // Even if OpenBLAS ignored the request, there is no second re-execution.
  inputs.chosen_core = "Prescott";
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(EmeraldRapids()), inputs).reexec);
  // The marker without the variable (something removed it): no loop either.
  inputs.coretype_env = nullptr;
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(EmeraldRapids()), inputs).reexec);
}

TEST(BlasDispatchTest, NothingToDoWithoutDynamicArchOrOpenBlas) {
  BlasInputs fixed = OpenBlas("Prescott");
  fixed.dynamic_arch = false;
  EXPECT_FALSE(DecideBlasCore(DecodeCpuid(EmeraldRapids()), fixed).reexec);
  BlasInputs other;
  const BlasDecision decision = DecideBlasCore(DecodeCpuid(EmeraldRapids()), other);
  EXPECT_FALSE(decision.reexec);
  EXPECT_EQ(decision.source, BlasSource::kNotOpenBlas);
  EXPECT_EQ(BlasSourceName(decision.source), "none");
}

}  // namespace
}  // namespace promptintern
