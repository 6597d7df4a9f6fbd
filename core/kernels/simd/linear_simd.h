// The instruction-set specific halves of core/kernels/packed_linear: y = x W^T over a range of
// output rows, for float32 activations and float32, bfloat16, float16 or int8 weights, with float32
// accumulation. Each function exists once per instruction set, in its own file compiled for that
// set (`#pragma GCC target`), and is only called after cpuid said the CPU has it
// (core/kernels/kernel_isa.h). These files include nothing but intrinsics and <cstdint>, so no
// inline function of a shared header can be compiled for AVX-512 and then picked by the linker for
// code that runs on a CPU without it.
//
// Layouts. float32 is row-major: row o starts at element o * row_stride (tails use masked loads).
// bf16, f16 and int8 are in panels of kPanelRows = 8 rows, each stored as chunks of kPanelChunk = 32
// elements per row, row after row, so that a tile of 8 rows reads one sequential stream (eight
// interleaved rows of a few hundred bytes each read at half the speed on the machines measured):
//   element (o, k) at (o / 8) * 8 * row_stride + (k / 32) * 256 + (o % 8) * 32 + k % 32,
// row_stride a multiple of 32, out padded to a multiple of 8 rows, zeros in all padding.
// int8 is symmetric: W(o, k) = q(o, k) * scale. With one scale per row (groups_per_row == 1),
// scales[o]; with groups of group_size (a multiple of 32) inputs, scales[(o / 8) * groups_per_row * 8
// + (k / group_size) * 8 + o % 8]: the 8 scales of a panel's group side by side.
#pragma once

#include <cstdint>

namespace promptintern::simd {

enum class WeightType { kF32, kBF16, kF16, kInt8 };

inline constexpr int64_t kPanelRows = 8;
inline constexpr int64_t kPanelChunk = 32;
// How far ahead of its reads a panel kernel asks for weights (software prefetch). A core of the
// machines measured streams only about half its share of DRAM bandwidth on the hardware prefetchers
// alone while it also converts and multiplies; 2 KiB ahead (8 int8 chunks, 4 bf16 chunks of a panel)
// was the best of 0.5-8 KiB for int8 and bf16 panels (docs/PERFORMANCE.md).
inline constexpr int64_t kPrefetchBytes = 2048;

struct LinearTask {
  WeightType type = WeightType::kF32;
  const void* weights = nullptr;
  int64_t row_stride = 0;  // elements per row (see the layouts above)
  int64_t in = 0;          // elements of x per row, and of W per row that count
  const float* scales = nullptr;  // kInt8 only
  int64_t group_size = 0;         // kInt8 only
  int64_t groups_per_row = 0;     // kInt8 only
  const float* x = nullptr;
  int64_t x_stride = 0;  // elements between rows of x
  // kBF16 on the AVX512-BF16 path: x rounded to bf16 (RoundToBf16), row stride row_stride, zeros
  // past in.
  const uint16_t* x_bf16 = nullptr;
  int64_t rows = 0;
  float* y = nullptr;
  int64_t y_stride = 0;  // elements between rows of y
  // The output rows (of W, columns of y) this call computes; out_begin a multiple of kPanelRows.
  int64_t out_begin = 0, out_end = 0;
};

void LinearScalar(const LinearTask& task);
void LinearAvx2(const LinearTask& task);        // AVX2 + FMA + F16C
void LinearAvx512(const LinearTask& task);      // AVX-512 F/BW/DQ/VL
// AVX-512 with AVX512_BF16: kBF16 multiplies with vdpbf16ps on task.x_bf16; other types as LinearAvx512.
void LinearAvx512Bf16(const LinearTask& task);

// The large-batch (prefill) half: output rows [out_begin, out_end) of a bf16, f16 or int8 weight
// widened to float32 with their scales applied, in one pass, for a float32 gemm. Row o - out_begin
// goes to out + (o - out_begin) * row_stride, all row_stride values (the zero padding widens to
// zeros); x, y and rows are not read.
void WidenScalar(const LinearTask& task, float* out);
void WidenAvx2(const LinearTask& task, float* out);
void WidenAvx512(const LinearTask& task, float* out);

// float32 -> bfloat16 with round-to-nearest-even (NaN stays NaN), n values; `out` gets them. The
// AVX512_BF16 version uses vcvtne2ps2bf16, which rounds the same way and flushes denormals to zero.
void RoundToBf16Scalar(const float* x, int64_t n, uint16_t* out);
void RoundToBf16Avx512Bf16(const float* x, int64_t n, uint16_t* out);

// Scalar conversions, shared by the scalar kernel, packing and tests.
uint16_t FloatToBf16(float value);  // round-to-nearest-even
float Bf16ToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);  // round-to-nearest-even; overflow -> infinity
float HalfToFloat(uint16_t bits);

}  // namespace promptintern::simd
