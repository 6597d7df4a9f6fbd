// Rotary position embedding of float32 query or key rows in one pass, for inference.
//
// Composed from libtorch operators, RoPE on q and on k is eight operators each per layer (two
// table lookups, the half rotation's two slices, a negation and a concatenation, two multiplies
// and an add), all allocating: at batch-1 decode that dispatch cost, not arithmetic, is what it
// costs. Training keeps the composition (autograd needs it); DecoderModel calls this only without
// grad mode.
//
// Contract: x holds `rows` rows of `heads` heads of head_dim (even) values, row r at
// x + r * row_stride, head h at + h * head_dim, values contiguous. Row r at position
// positions[r] (0 <= positions[r] < the tables' rows) becomes, in out (contiguous
// [rows, heads, head_dim]), with c and s that position's row of cos and sin (table_stride apart)
// and half = head_dim / 2:
//   out[i]        = x[i] * c[i] - x[i + half] * s[i]
//   out[i + half] = x[i + half] * c[i + half] + x[i] * s[i + half]        (i < half)
// which is x * cos + rotate_half(x) * sin with the same float32 roundings as the composition
// (no fused multiply-add), so the two agree bit for bit. out must not overlap x. Torch-free header.
#pragma once

#include <cstdint>

namespace promptintern {

struct RotaryArgs {
  const float* x = nullptr;
  int64_t rows = 0;
  int64_t row_stride = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  const float* cos = nullptr;
  const float* sin = nullptr;
  int64_t table_stride = 0;
  const int64_t* positions = nullptr;
  float* out = nullptr;
};

void ApplyRotary(const RotaryArgs& args);

}  // namespace promptintern
