// RMS normalization of float32 rows in one pass, for inference.
//
// Composed from libtorch operators, RMSNorm is six of them per call (square, mean, add, rsqrt and
// two multiplies, each allocating its result), and a decode step calls it twice or more per
// layer: at batch 1 their per-call cost, not arithmetic, is what it costs. Training keeps the
// operator composition (autograd needs it); DecoderModel::Norm calls this only without grad mode.
//
// Contract: for each of `rows` rows of n values, y = x / sqrt(mean(x^2) + eps) * (weight +
// weight_offset) (weight_offset 1 for Gemma's (1 + w) weighting, else 0). The sum of squares
// accumulates in double, so the result is within float32 rounding of the exact one (libtorch's
// float32 mean rounds its own way). x and y may be the same buffer. Rows are split over
// libtorch's intra-op threads. Torch-free header.
#pragma once

#include <cstdint>

namespace promptintern {

void RmsNormRows(const float* x, int64_t rows, int64_t n, const float* weight, float weight_offset, float eps,
                 float* y);

}  // namespace promptintern
