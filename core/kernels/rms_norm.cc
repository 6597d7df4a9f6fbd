#include "core/kernels/rms_norm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace promptintern {

void RmsNormRows(const float* x, int64_t rows, int64_t n, const float* weight, float weight_offset, float eps,
                 float* y) {
  // About 64 KiB of rows per task: a decode step's few rows stay on the calling thread.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* in = x + r * n;
      float* out = y + r * n;
      double squares = 0;
      for (int64_t i = 0; i < n; ++i) squares += static_cast<double>(in[i]) * in[i];
      const float scale = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(n) + eps));
      for (int64_t i = 0; i < n; ++i) out[i] = in[i] * scale * (weight[i] + weight_offset);
    }
  });
}

}  // namespace promptintern
