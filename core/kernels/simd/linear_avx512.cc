// AVX-512 (F/BW/DQ/VL) kernels: 16 float32 lanes, 32 registers, masked tails.
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/simd/linear_simd.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")

namespace promptintern::simd {
namespace {

__mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

struct Avx512Isa {
  using Vec = __m512;
  static constexpr int64_t kLanes = 16;
  // Of 32 registers: R x vectors + R * O accumulators + a weight vector (+ O scales). Up to 8 rows
  // of x per tile, so a decode batch of 8 decodes each weight once.
  static constexpr int kRowBlock = 8;
  // Not yet measured on an AVX-512 machine: each weight vector is scaled (linear_tiles.inc).
  static constexpr bool kScaleChunkSums = false;
  template <int R>
  static constexpr int OutTile() {
    return R == 1 ? 8 : R <= 4 ? 4 : 2;
  }
  static Vec Zero() { return _mm512_setzero_ps(); }
  static Vec Set1(float value) { return _mm512_set1_ps(value); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec Mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static float Sum(Vec v) { return _mm512_reduce_add_ps(v); }
  static Vec LoadX(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec LoadXTail(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(TailMask(n), p); }
  template <WeightType T>
  static Vec LoadW(const void* row, int64_t k) {
    if constexpr (T == WeightType::kF32) {
      return _mm512_loadu_ps(static_cast<const float*>(row) + k);
    } else if constexpr (T == WeightType::kBF16) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + k));
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
    } else if constexpr (T == WeightType::kF16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + k)));
    } else {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(row) + k));
      return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
    }
  }
  static Vec LoadWTail(const float* p, int64_t k, int64_t n) { return _mm512_maskz_loadu_ps(TailMask(n), p + k); }
};

#include "core/kernels/simd/linear_tiles.inc"

}  // namespace

void LinearAvx512(const LinearTask& task) { RunLinear<Avx512Isa>(task); }
void WidenAvx512(const LinearTask& task, float* out) { RunWiden<Avx512Isa>(task, out); }

}  // namespace promptintern::simd

#pragma GCC pop_options
