// AVX512_BF16 kernels: bfloat16 weights times bfloat16-rounded x with vdpbf16ps, which multiplies
// pairs of bfloat16 values exactly and adds them to float32 accumulators. x is rounded once per call
// (RoundToBf16Avx512Bf16, round-to-nearest-even): a relative error of at most 2^-8 per element on
// top of the weights' own bfloat16 rounding. Other weight types run the plain AVX-512 kernels.
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/simd/linear_simd.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c")

namespace promptintern::simd {
namespace {

// Panel rows [o0, o0 + O) (linear_simd.h): one 32-value chunk of a row is one vector. The
// zero-padded rows and x_bf16 (row stride row_stride) need no tail.
template <int R, int O>
void DotTile(const LinearTask& t, int64_t o0, int64_t r0) {
  const uint16_t* base = static_cast<const uint16_t*>(t.weights) + (o0 / kPanelRows) * kPanelRows * t.row_stride +
                         (o0 % kPanelRows) * kPanelChunk;
  const uint16_t* x[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) x[i] = t.x_bf16 + (r0 + i) * t.row_stride;
  __m512 acc[R][O];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < O; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < t.row_stride; k += kPanelChunk) {
    const uint16_t* chunk = base + k * kPanelRows;
#pragma GCC unroll 16
    for (int j = 0; j < O; ++j) __builtin_prefetch(reinterpret_cast<const char*>(chunk + j * kPanelChunk) + kPrefetchBytes);
    __m512bh xv[R];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) xv[i] = (__m512bh)_mm512_loadu_si512(x[i] + k);
#pragma GCC unroll 16
    for (int j = 0; j < O; ++j) {
      const __m512bh wv = (__m512bh)_mm512_loadu_si512(chunk + j * kPanelChunk);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv[i], wv);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < O; ++j) {
      if (o0 + j < t.out_end) t.y[(r0 + i) * t.y_stride + o0 + j] = _mm512_reduce_add_ps(acc[i][j]);
    }
  }
}

// As the AVX-512 kernels: up to 8 rows of x per tile, O weight rows per tile by R.
constexpr int kRowBlock = 8;
template <int R>
constexpr int OutTile() {
  return R == 1 ? 8 : R <= 4 ? 4 : 2;
}

template <int R>
void DotRow(const LinearTask& t, int64_t o0, int64_t r0) {
  for (int64_t j = 0; j < kPanelRows && o0 + j < t.out_end; j += OutTile<R>()) DotTile<R, OutTile<R>()>(t, o0 + j, r0);
}

template <int R = kRowBlock - 1>
void DotRemainder(const LinearTask& t, int64_t o0, int64_t r0, int64_t left) {
  if constexpr (R >= 1) {
    if (left == R) {
      DotRow<R>(t, o0, r0);
    } else {
      DotRemainder<R - 1>(t, o0, r0, left);
    }
  }
}

void RunDot(const LinearTask& t) {
  for (int64_t o0 = t.out_begin; o0 < t.out_end; o0 += kPanelRows) {
    int64_t r = 0;
    for (; r + kRowBlock <= t.rows; r += kRowBlock) DotRow<kRowBlock>(t, o0, r);
    if (r < t.rows) DotRemainder(t, o0, r, t.rows - r);
  }
}

}  // namespace

void LinearAvx512Bf16(const LinearTask& task) {
  if (task.type == WeightType::kBF16 && task.x_bf16 != nullptr) return RunDot(task);
  LinearAvx512(task);
}

void RoundToBf16Avx512Bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), (__m256i)rounded);
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m256bh rounded = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + i));
    _mm256_mask_storeu_epi16(out + i, mask, (__m256i)rounded);
  }
}

}  // namespace promptintern::simd

#pragma GCC pop_options
