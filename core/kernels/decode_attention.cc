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

// One (row, head) pair: scores over the visible positions into `scores` (room for all of them),
// softmax, weighted sum of the values into `out`. Inlined into one function per instruction set
// below, which the caller picks from cpuid (kernel_isa.h) rather than through an ifunc: an ifunc
// resolver runs before the sanitizers' runtimes are up and crashes their builds.
inline __attribute__((always_inline)) void AttendBody(const DecodeAttentionArgs& args, const float* q,
                                                      const int32_t* table, int64_t kv, int64_t first, int64_t last,
                                                      float* scores, float* out) {
  const int64_t head_dim = args.head_dim;
  const int64_t position_stride = args.kv_heads * head_dim;  // one position's keys in a block
  const int64_t block_stride = args.block_size * position_stride;
  auto slot = [&](const float* pool, int64_t p) {
    return pool + table[p / args.block_size] * block_stride + (p % args.block_size) * position_stride +
           kv * head_dim;
  };
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t p = first; p <= last; ++p) {
    const float* key = slot(args.key_pool, p);
    // Sixteen partial sums: vectorizable without reassociating a single float sum.
    float partial[16] = {};
    int64_t i = 0;
    for (; i + 16 <= head_dim; i += 16) {
      for (int j = 0; j < 16; ++j) partial[j] += q[i + j] * key[i + j];
    }
    float score = 0;
    for (; i < head_dim; ++i) score += q[i] * key[i];
    for (float value : partial) score += value;
    score /= args.divisor;
    if (args.softcap > 0) score = std::tanh(score / args.softcap) * args.softcap;
    scores[p - first] = score;
    max_score = std::max(max_score, score);
  }
  float total = 0;
  for (int64_t p = first; p <= last; ++p) {
    scores[p - first] = std::exp(scores[p - first] - max_score);
    total += scores[p - first];
  }
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t p = first; p <= last; ++p) {
    const float weight = scores[p - first] / total;
    const float* value = slot(args.value_pool, p);
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weight * value[i];
  }
}

using AttendFunction = void (*)(const DecodeAttentionArgs&, const float*, const int32_t*, int64_t, int64_t, int64_t,
                                float*, float*);

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void AttendAvx512(
    const DecodeAttentionArgs& args, const float* q, const int32_t* table, int64_t kv, int64_t first, int64_t last,
    float* scores, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, out);
}

__attribute__((target("avx2,fma"))) void AttendAvx2(const DecodeAttentionArgs& args, const float* q,
                                                     const int32_t* table, int64_t kv, int64_t first, int64_t last,
                                                     float* scores, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, out);
}

void AttendBaseline(const DecodeAttentionArgs& args, const float* q, const int32_t* table, int64_t kv, int64_t first,
                    int64_t last, float* scores, float* out) {
  AttendBody(args, q, table, kv, first, last, scores, out);
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
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / args.heads;
      const int64_t h = item % args.heads;
      const int64_t token = args.token_rows[r];
      const int64_t last = args.positions[r];
      const int64_t first = args.window > 0 ? std::max<int64_t>(0, last - args.window + 1) : 0;
      attend(args, args.q + token * args.q_row_stride + h * args.head_dim, args.block_tables[r], h / group, first,
                last, scores.data(), args.out + token * args.out_row_stride + h * args.head_dim);
    }
  });
}

}  // namespace promptintern
