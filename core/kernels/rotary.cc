#include "core/kernels/rotary.h"

namespace promptintern {

void ApplyRotary(const RotaryArgs& args) {
  const int64_t half = args.head_dim / 2;
  for (int64_t r = 0; r < args.rows; ++r) {
    const float* c = args.cos + args.positions[r] * args.table_stride;
    const float* s = args.sin + args.positions[r] * args.table_stride;
    for (int64_t h = 0; h < args.heads; ++h) {
      const float* x = args.x + r * args.row_stride + h * args.head_dim;
      float* out = args.out + (r * args.heads + h) * args.head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float first = x[i];
        const float second = x[i + half];
        out[i] = first * c[i] - second * s[i];
        out[i + half] = second * c[i + half] + first * s[i + half];
      }
    }
  }
}

}  // namespace promptintern
