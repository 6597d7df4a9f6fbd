// Attention of single-token decode rows, read straight from the paged KV pool.
//
// Composed from libtorch operators, a decode step's attention gathered every block of every
// sequence into a new tensor (index_select of keys and of values), padded the rows to a common
// length, and ran two batched matmuls, a mask and a softmax: a dozen operators and two copies of
// the cache per layer and step, whose per-call cost, not memory traffic, was what batch-1 decode
// spent much of its time on (docs/PERFORMANCE.md has the profile). Here each (row, head) pair
// reads its own sequence's keys and values in place, through its block table, in one pass.
//
// Arithmetic: float32 throughout; dot products and the softmax sum accumulate in float32 as
// libtorch's CPU kernels do, in another order, so results agree with the operator composition
// to float32 rounding. Work is split over libtorch's intra-op threads (at::parallel_for); the
// inner loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked from cpuid like the
// weight kernels' (kernel_isa.h, so PROMPTINTERN_KERNEL_ISA caps them too). Torch-free header.
#pragma once

#include <cstdint>

namespace promptintern {

// The pool is [blocks, block_size, kv_heads, head_dim] float32, row-major: position p of a
// sequence is slot p % block_size of block block_table[p / block_size]. Decode row i is token
// row token_rows[i] of q and of out; it attends to the positions [first, positions[i]] of its
// sequence, first = positions[i] - window + 1 with a window (window > 0), else 0. Query head h
// reads KV head h / (heads / kv_heads). Scores are q . k / divisor, soft-capped as
// softcap * tanh(s / softcap) when softcap > 0, then softmax-weighted over the values.
struct DecodeAttentionArgs {
  const float* q = nullptr;  // token row t, head h at q + t * q_row_stride + h * head_dim
  int64_t q_row_stride = 0;
  float* out = nullptr;      // token row t, head h at out + t * out_row_stride + h * head_dim
  int64_t out_row_stride = 0;
  const float* key_pool = nullptr;
  const float* value_pool = nullptr;
  int64_t block_size = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  float divisor = 1.0f;
  float softcap = 0.0f;
  int64_t window = 0;
  int64_t rows = 0;
  const int64_t* token_rows = nullptr;           // [rows]
  const int64_t* positions = nullptr;            // [rows]
  const int32_t* const* block_tables = nullptr;  // [rows]
};

void DecodeAttention(const DecodeAttentionArgs& args);

}  // namespace promptintern
