// y = x W^T for a packed weight (packed_weight.h): the linear layer of serving.
//
// Up to kSmallBatchRows rows of x (decode: one row per sequence in the batch) run the
// register-tiled kernels of core/kernels/simd, which read each weight once per call, decode it in
// registers and multiply it with every row of x: the work is memory-bound and reads 4 (f32), 2
// (bf16, f16) or about 1.1 (int8) bytes per parameter. More rows (prefill) are compute-bound:
// f32 goes to at::linear (OpenBLAS sgemm); the other formats are widened to float32 a block of
// output rows at a time and multiplied by at::mm.
//
// Arithmetic: float32 activations, float32 accumulation, weights exactly as Unpack() returns
// them. The one exception is bf16 on CPUs with AVX512_BF16: x is rounded to bfloat16 (round to
// nearest even) for vdpbf16ps, a relative error of at most 2^-8 per input element (bfloat16 keeps 8
// significant bits), the same as the weights' own rounding.
// The kernels' instruction set comes from cpuid at run time (kernel_isa.h). Output rows are split
// over libtorch's intra-op threads (at::parallel_for), so SetComputeThreads applies.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/kernels/packed_weight.h"

namespace promptintern {

inline constexpr int64_t kSmallBatchRows = 16;

// x: float32 [..., in] (any strides). Returns float32 [..., out]. Throws c10::Error (as at::linear
// does) when x is not float32 or its last dimension is not in_features.
at::Tensor PackedLinear(const at::Tensor& x, const PackedWeight& weight);

// The same into `y`: float32, contiguous, x's leading shape with out_features last. With at most
// kSmallBatchRows rows and a contiguous x it allocates nothing (a decode step's projections can
// reuse their outputs).
void PackedLinearOut(const at::Tensor& x, const PackedWeight& weight, at::Tensor& y);

}  // namespace promptintern
