// Portable kernels: plain C++ for any CPU, and the conversions between float32 and 16-bit floats.
#include <cstdint>
#include <cstring>

#include "core/kernels/simd/linear_simd.h"

namespace promptintern::simd {
namespace {

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float FromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

struct ScalarIsa {
  using Vec = float;
  static constexpr int64_t kLanes = 1;
  static constexpr int kRowBlock = 4;
  static constexpr bool kScaleChunkSums = true;
  template <int R>
  static constexpr int OutTile() {
    return 4;
  }
  static Vec Zero() { return 0.0f; }
  static Vec Set1(float value) { return value; }
  static Vec Fma(Vec a, Vec b, Vec c) { return a * b + c; }
  static Vec Mul(Vec a, Vec b) { return a * b; }
  static float Sum(Vec v) { return v; }
  static Vec LoadX(const float* p) { return *p; }
  static void Store(float* p, Vec v) { *p = v; }
  static Vec LoadXTail(const float* p, int64_t) { return *p; }
  template <WeightType T>
  static Vec LoadW(const void* row, int64_t k) {
    if constexpr (T == WeightType::kF32) {
      return static_cast<const float*>(row)[k];
    } else if constexpr (T == WeightType::kBF16) {
      return Bf16ToFloat(static_cast<const uint16_t*>(row)[k]);
    } else if constexpr (T == WeightType::kF16) {
      return HalfToFloat(static_cast<const uint16_t*>(row)[k]);
    } else {
      return static_cast<float>(static_cast<const int8_t*>(row)[k]);
    }
  }
  static Vec LoadWTail(const float* p, int64_t k, int64_t) { return p[k]; }
};

#include "core/kernels/simd/linear_tiles.inc"

}  // namespace

void LinearScalar(const LinearTask& task) { RunLinear<ScalarIsa>(task); }
void WidenScalar(const LinearTask& task, float* out) { RunWiden<ScalarIsa>(task, out); }

uint16_t FloatToBf16(float value) {
  const uint32_t bits = Bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  // Round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then truncate.
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

float Bf16ToFloat(uint16_t bits) { return FromBits(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToHalf(float value) {
  const uint32_t bits = Bits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (magnitude >= 0x47800000u) return sign | 0x7c00;  // >= 65536 (and infinity): infinity
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal, a multiple of 2^-24. Adding 0.5 makes the
    // FPU round the magnitude at 2^-24 resolution (to nearest even); the low mantissa bits are the result.
    const float rounded = FromBits(magnitude) + 0.5f;
    return sign | static_cast<uint16_t>(Bits(rounded) - Bits(0.5f));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even;
  // a carry out of the mantissa correctly bumps the exponent, up to infinity above 65504.
  const uint32_t odd = (magnitude >> 13) & 1u;
  const uint32_t rebased = magnitude - (112u << 23) + 0xfffu + odd;
  return sign | static_cast<uint16_t>(rebased >> 13);
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float32.
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return FromBits(sign | Bits(magnitude));
  }
  if (exponent == 31) return FromBits(sign | 0x7f800000u | (mantissa << 13));
  return FromBits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

void RoundToBf16Scalar(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToBf16(x[i]);
}

}  // namespace promptintern::simd
