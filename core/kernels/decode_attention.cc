#include "core/kernels/decode_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/kernels/kernel_isa.h"

namespace promptintern {
namespace {

// Items touching fewer floats than this stay on the calling thread: waking the pool costs more.
constexpr int64_t kMinFloatsPerThread = 16 * 1024;
// Positions ahead of the one in use whose keys (or values) are prefetched. One head's rows of
// consecutive positions are a whole position's heads apart in the pool (3 KiB at 110M), farther
// than the hardware's stride prefetchers follow, so without this every position waited for its
// cache lines (decode attention was 18% of a 110M int8 step at 200 positions).
constexpr int64_t kPrefetchPositions = 8;

inline __attribute__((always_inline)) void PrefetchRow(const float* row, int64_t floats) {
  for (int64_t i = 0; i < floats; i += 16) __builtin_prefetch(row + i);
}

// One (row, head) pair: scores over the visible positions into `scores` (room for all of them),
// softmax, weighted sum of the values into `out`. `offsets` (room for all positions) gets each
// position's offset in the pools, found once for both passes. Inlined into one function per
// instruction set below, which the caller picks from cpuid (kernel_isa.h) rather than through an
// ifunc: an ifunc resolver runs before the sanitizers' runtimes are up and crashes their builds.
inline __attribute__((always_inline)) void AttendBody(const DecodeAttentionArgs& args, const float* __restrict q,
                                                      const int32_t* table, int64_t kv, int64_t first, int64_t last,
                                                      float* __restrict scores, int64_t* __restrict offsets,
                                                      float* __restrict out) {
  const int64_t head_dim = args.head_dim;
  const int64_t position_stride = args.kv_heads * head_dim;  // one position's keys in a block
  const int64_t block_stride = args.block_size * position_stride;
  const int64_t count = last - first + 1;
  for (int64_t p = first, n = 0; p <= last;) {
    const int64_t base = table[p / args.block_size] * block_stride + kv * head_dim;
    for (int64_t slot = p % args.block_size; slot < args.block_size && p <= last; ++slot, ++p) {
      offsets[n++] = base + slot * position_stride;
    }
  }
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t n = 0; n < count; ++n) {
    if (n + kPrefetchPositions < count) PrefetchRow(args.key_pool + offsets[n + kPrefetchPositions], head_dim);
    const float* __restrict key = args.key_pool + offsets[n];
    // Sixteen partial sums, added pairwise: vectorizable without reassociating a single float sum.
    float partial[16] = {};
    int64_t i = 0;
    for (; i + 16 <= head_dim; i += 16) {
      for (int j = 0; j < 16; ++j) partial[j] += q[i + j] * key[i + j];
    }
    for (int width = 8; width >= 1; width /= 2) {
      for (int j = 0; j < width; ++j) partial[j] += partial[j + width];
    }
    float score = partial[0];
    for (; i < head_dim; ++i) score += q[i] * key[i];
    score /= args.divisor;
    if (args.softcap > 0) score = std::tanh(score / args.softcap) * args.softcap;
    scores[n] = score;
    max_score = std::max(max_score, score);
  }
  float total = 0;
  for (int64_t n = 0; n < count; ++n) {
    scores[n] = std::exp(scores[n] - max_score);
    total += scores[n];
  }
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t n = 0; n < count; ++n) {
    if (n + kPrefetchPositions < count) PrefetchRow(args.value_pool + offsets[n + kPrefetchPositions], head_dim);
    const float weight = scores[n] / total;
    const float* __restrict value = args.value_pool + offsets[n];
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weight * value[i];
  }
}

using AttendFunction = void (*)(const DecodeAttentionArgs&, const float*, const int32_t*, int64_t, int64_t, int64_t,
                                float*, int64_t*, float*);

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void AttendAvx512(
    const DecodeAttentionArgs& args, const float* q, const int32_t* table, int64_t kv, int64_t first, int64_t last,
    float* scores, int64_t* offsets, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, offsets, out);
}

__attribute__((target("avx2,fma"))) void AttendAvx2(const DecodeAttentionArgs& args, const float* q,
                                                     const int32_t* table, int64_t kv, int64_t first, int64_t last,
                                                     float* scores, int64_t* offsets, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, offsets, out);
}

void AttendBaseline(const DecodeAttentionArgs& args, const float* q, const int32_t* table, int64_t kv, int64_t first,
                    int64_t last, float* scores, int64_t* offsets, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, offsets, out);
}

AttendFunction AttendFor(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512Bf16:
    case KernelIsa::kAvx512:
      return AttendAvx512;
    case KernelIsa::kAvx2:
      return AttendAvx2;
    case KernelIsa::kScalar:
      return AttendBaseline;
  }
  return AttendBaseline;
}

}  // namespace

void DecodeAttention(const DecodeAttentionArgs& args) {
  const AttendFunction attend = AttendFor(ActiveKernelIsa());
  const int64_t group = args.heads / args.kv_heads;
  int64_t longest = 0;
  for (int64_t r = 0; r < args.rows; ++r) longest = std::max(longest, args.positions[r] + 1);
  const int64_t grain = std::max<int64_t>(1, kMinFloatsPerThread / std::max<int64_t>(1, 2 * longest * args.head_dim));
  at::parallel_for(0, args.rows * args.heads, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(longest));
    std::vector<int64_t> offsets(static_cast<size_t>(longest));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / args.heads;
      const int64_t h = item % args.heads;
      const int64_t token = args.token_rows[r];
      const int64_t last = args.positions[r];
      const int64_t first = args.window > 0 ? std::max<int64_t>(0, last - args.window + 1) : 0;
      attend(args, args.q + token * args.q_row_stride + h * args.head_dim, args.block_tables[r], h / group, first,
                last, scores.data(), offsets.data(), args.out + token * args.out_row_stride + h * args.head_dim);
    }
  });
}

}  // namespace promptintern
