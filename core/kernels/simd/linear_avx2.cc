// AVX2 + FMA + F16C kernels: 8 float32 lanes, 16 registers.
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/simd/linear_simd.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace promptintern::simd {
namespace {

// Lanes below n set (all bits), the rest clear: the mask of vmaskmovps.
__m256i TailMask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

struct Avx2Isa {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  // Of 16 registers: R x vectors + R * O accumulators (at most 8) + a weight vector + O scales.
  static constexpr int kRowBlock = 4;
  // On Zen 3 the one-row int8 kernel was bound by its own instructions (a multiply per vector):
  // kernel_bench's 25M rows went from about 80% to about 100% of the bandwidth bound.
  static constexpr bool kScaleChunkSums = true;
  template <int R>
  static constexpr int OutTile() {
    return R == 1 ? 8 : R == 2 ? 4 : 2;
  }
  static Vec Zero() { return _mm256_setzero_ps(); }
  static Vec Set1(float value) { return _mm256_set1_ps(value); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec Mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static float Sum(Vec v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
  }
  static Vec LoadX(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec LoadXTail(const float* p, int64_t n) { return _mm256_maskload_ps(p, TailMask(n)); }
  template <WeightType T>
  static Vec LoadW(const void* row, int64_t k) {
    if constexpr (T == WeightType::kF32) {
      return _mm256_loadu_ps(static_cast<const float*>(row) + k);
    } else if constexpr (T == WeightType::kBF16) {
      const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + k));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
    } else if constexpr (T == WeightType::kF16) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + k)));
    } else {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(row) + k));
      return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
    }
  }
  static Vec LoadWTail(const float* p, int64_t k, int64_t n) { return _mm256_maskload_ps(p + k, TailMask(n)); }
};

#include "core/kernels/simd/linear_tiles.inc"

}  // namespace

void LinearAvx2(const LinearTask& task) { RunLinear<Avx2Isa>(task); }
void WidenAvx2(const LinearTask& task, float* out) { RunWiden<Avx2Isa>(task, out); }

}  // namespace promptintern::simd

#pragma GCC pop_options
