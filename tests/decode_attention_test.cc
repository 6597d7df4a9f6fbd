// DecodeAttention against the same attention written as libtorch operators in float64 (gather the
// sequence's positions from the pool, q . k / divisor, soft-cap, window, softmax, weighted sum),
// for grouped-query heads, head sizes that are not a multiple of any vector width, scrambled block
// tables, rows of very different lengths in one call, and decode rows interleaved with other rows
// of the step; on every instruction set this CPU runs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/kernels/decode_attention.h"
#include "core/kernels/kernel_isa.h"
#include "core/platform/cpu_features.h"

namespace promptintern {
namespace {

struct Case {
  int64_t heads;
  int64_t kv_heads;
  int64_t head_dim;
  int64_t block_size;
  float softcap;
  int64_t window;
};

// The float64 reference for decode row `i` of `args`: [heads, head_dim].
at::Tensor Reference(const DecodeAttentionArgs& args, const at::Tensor& q, const at::Tensor& keys,
                     const at::Tensor& values, int64_t i) {
  const int64_t last = args.positions[i];
  const int64_t first = args.window > 0 ? std::max<int64_t>(0, last - args.window + 1) : 0;
  std::vector<int64_t> slots;
  for (int64_t p = first; p <= last; ++p) {
    slots.push_back(args.block_tables[i][p / args.block_size] * args.block_size + p % args.block_size);
  }
  const at::Tensor index = at::tensor(slots, at::kLong);
  const at::Tensor k = keys.view({-1, args.kv_heads, args.head_dim}).index_select(0, index).to(at::kDouble);
  const at::Tensor v = values.view({-1, args.kv_heads, args.head_dim}).index_select(0, index).to(at::kDouble);
  const int64_t group = args.heads / args.kv_heads;
  const at::Tensor query = q[args.token_rows[i]].to(at::kDouble);  // [heads, head_dim]
  at::Tensor out = at::empty({args.heads, args.head_dim}, at::kDouble);
  for (int64_t h = 0; h < args.heads; ++h) {
    at::Tensor scores = at::mv(k.select(1, h / group), query[h]) / args.divisor;
    if (args.softcap > 0) scores = at::tanh(scores / args.softcap) * args.softcap;
    out[h] = at::mv(v.select(1, h / group).t(), at::softmax(scores, 0));
  }
  return out;
}

TEST(DecodeAttentionTest, MatchesTheOperatorComposition) {
  const Case cases[] = {
      {4, 2, 16, 4, 0.0f, 0},    // grouped-query heads, vector-width head size
      {3, 3, 7, 1, 0.0f, 0},     // head size below any vector, one position per block
      {8, 2, 33, 3, 0.0f, 5},    // odd head size, sliding window
      {2, 1, 64, 16, 2.5f, 0},   // soft-capped scores
      {6, 3, 20, 5, 30.0f, 9},   // both
  };
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (isa > SupportedKernelIsa(HostCpu())) continue;
    ScopedKernelIsaLimit limit(isa);
    ASSERT_TRUE(limit.status().ok()) << limit.status();
    SCOPED_TRACE(std::string(KernelIsaName(isa)));
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << "heads " << c.heads << "/" << c.kv_heads << " head_dim " << c.head_dim
                                        << " block " << c.block_size << " softcap " << c.softcap << " window "
                                        << c.window);
      at::manual_seed(static_cast<uint64_t>(c.head_dim * 131 + c.block_size));
      const int64_t num_blocks = 64;
      const at::Tensor keys = at::randn({num_blocks, c.block_size, c.kv_heads, c.head_dim});
      const at::Tensor values = at::randn({num_blocks, c.block_size, c.kv_heads, c.head_dim});
      // Five decode rows of very different lengths at token rows 0, 2, 3, 5, 8 of a 9-row step (the
      // other rows belong to prefill chunks and must be left alone), each with its own block table
      // drawn from a scrambled pool.
      const std::vector<int64_t> token_rows = {0, 2, 3, 5, 8};
      const std::vector<int64_t> positions = {0, 1, 6, 19, std::min<int64_t>(num_blocks * c.block_size / 5 - 1, 40)};
      const at::Tensor permutation = at::randperm(num_blocks, at::kLong);
      std::vector<std::vector<int32_t>> tables(token_rows.size());
      int64_t next = 0;
      for (size_t i = 0; i < tables.size(); ++i) {
        for (int64_t b = 0; b <= positions[i] / c.block_size; ++b) {
          tables[i].push_back(static_cast<int32_t>(permutation[next++].item<int64_t>()));
        }
      }
      std::vector<const int32_t*> table_pointers;
      for (const auto& table : tables) table_pointers.push_back(table.data());
      const at::Tensor q = at::randn({9, c.heads, c.head_dim});
      at::Tensor out = at::full({9, c.heads, c.head_dim}, 7.0f);

      DecodeAttentionArgs args;
      args.q = q.data_ptr<float>();
      args.q_row_stride = c.heads * c.head_dim;
      args.out = out.data_ptr<float>();
      args.out_row_stride = c.heads * c.head_dim;
      args.key_pool = keys.data_ptr<float>();
      args.value_pool = values.data_ptr<float>();
      args.block_size = c.block_size;
      args.heads = c.heads;
      args.kv_heads = c.kv_heads;
      args.head_dim = c.head_dim;
      args.divisor = std::sqrt(static_cast<float>(c.head_dim));
      args.softcap = c.softcap;
      args.window = c.window;
      args.rows = static_cast<int64_t>(token_rows.size());
      args.token_rows = token_rows.data();
      args.positions = positions.data();
      args.block_tables = table_pointers.data();
      DecodeAttention(args);

      for (size_t i = 0; i < token_rows.size(); ++i) {
        const at::Tensor expected = Reference(args, q, keys, values, static_cast<int64_t>(i));
        const double error = (out[token_rows[i]].to(at::kDouble) - expected).abs().max().item<double>();
        EXPECT_LT(error, 1e-5) << "decode row " << i << " at position " << positions[i];
      }
      for (int64_t untouched : {1, 4, 6, 7}) {
        EXPECT_TRUE(out[untouched].eq(7.0f).all().item<bool>()) << "row " << untouched << " is not a decode row";
      }
    }
  }
}

}  // namespace
}  // namespace promptintern
