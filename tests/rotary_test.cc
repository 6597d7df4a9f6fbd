// ApplyRotary against RoPE written as libtorch operators (x * cos + rotate_half(x) * sin at each
// row's position): bit for bit, for rows one stride apart inside a wider tensor (q, k and v of a
// fused projection), several heads, positions out of order and repeated, and tables of real RoPE.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/kernels/rotary.h"
#include "core/model/rope.h"

namespace promptintern {
namespace {

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

TEST(RotaryTest, MatchesTheOperatorCompositionBitForBit) {
  at::manual_seed(31);
  for (int64_t head_dim : {2, 8, 64, 130}) {
    const RopeTables tables = MakeRopeTables(head_dim, 512, 10000.0, RopeScaling{});
    const int64_t heads = 3;
    const int64_t rows = 7;
    // Rows of a fused [q | k | v] projection: q is a strided view, rows 5 * heads * head_dim apart.
    const at::Tensor fused = at::randn({rows, 5 * heads * head_dim}) * 4;
    const at::Tensor x = fused.narrow(1, heads * head_dim, heads * head_dim).view({rows, heads, head_dim});
    const at::Tensor positions = at::tensor(std::vector<int64_t>{9, 0, 511, 9, 300, 1, 77}, at::kLong);
    at::Tensor out = at::empty({rows, heads, head_dim});
    RotaryArgs args;
    args.x = x.data_ptr<float>();
    args.rows = rows;
    args.row_stride = x.stride(0);
    args.heads = heads;
    args.head_dim = head_dim;
    args.cos = tables.cos.data_ptr<float>();
    args.sin = tables.sin.data_ptr<float>();
    args.table_stride = head_dim;
    args.positions = positions.data_ptr<int64_t>();
    args.out = out.data_ptr<float>();
    ApplyRotary(args);
    const at::Tensor cos = tables.cos.index_select(0, positions).view({rows, 1, head_dim});
    const at::Tensor sin = tables.sin.index_select(0, positions).view({rows, 1, head_dim});
    const at::Tensor expected = x * cos + RotateHalf(x) * sin;
    EXPECT_TRUE(at::equal(out, expected)) << "head_dim " << head_dim << ": worst difference "
                                          << (out - expected).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace promptintern
