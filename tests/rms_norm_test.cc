// RmsNormRows against RMSNorm written as libtorch operators in float64, for row sizes that are not
// a multiple of any vector width, both weightings (w and Gemma's 1 + w), in place, many rows
// (split over threads) and very large and very small values; and DecoderModel's inference forward
// (which uses it) against its training-mode forward (the operator composition).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "core/kernels/rms_norm.h"
#include "core/model/decoder.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

at::Tensor Reference(const at::Tensor& x, const at::Tensor& weight, double offset, double eps) {
  const at::Tensor x64 = x.to(at::kDouble);
  return x64 * at::rsqrt(x64.pow(2).mean(-1, /*keepdim=*/true) + eps) * (weight.to(at::kDouble) + offset);
}

TEST(RmsNormTest, MatchesFloat64ForEveryShapeWeightingAndScale) {
  at::manual_seed(21);
  for (int64_t n : {1, 7, 64, 129, 768}) {
    for (int64_t rows : {1, 3, 300}) {
      for (float offset : {0.0f, 1.0f}) {
        for (double magnitude : {1e-3, 1.0, 1e4}) {
          const at::Tensor x = at::randn({rows, n}) * magnitude;
          const at::Tensor weight = at::randn({n});
          at::Tensor y = at::empty_like(x);
          RmsNormRows(x.data_ptr<float>(), rows, n, weight.data_ptr<float>(), offset, 1e-6f, y.data_ptr<float>());
          const at::Tensor expected = Reference(x, weight, offset, 1e-6);
          // Each output is one product of float32 values: a few units of float32 rounding.
          const double worst = ((y.to(at::kDouble) - expected).abs() / (expected.abs() + 1e-30)).max().item<double>();
          EXPECT_LT(worst, 4e-7) << "n " << n << " rows " << rows << " offset " << offset << " x " << magnitude;
        }
      }
    }
  }
}

TEST(RmsNormTest, InPlaceGivesTheSameRows) {
  at::manual_seed(22);
  const at::Tensor x = at::randn({5, 100});
  const at::Tensor weight = at::randn({100});
  at::Tensor y = at::empty_like(x);
  RmsNormRows(x.data_ptr<float>(), 5, 100, weight.data_ptr<float>(), 0.0f, 1e-5f, y.data_ptr<float>());
  at::Tensor z = x.clone();
  RmsNormRows(z.data_ptr<float>(), 5, 100, weight.data_ptr<float>(), 0.0f, 1e-5f, z.data_ptr<float>());
  EXPECT_TRUE(at::equal(y, z));
}

// The model normalizes with RmsNormRows only without grad mode: its logits there match the
// training-mode forward (libtorch operators, autograd on) to float32 rounding.
TEST(RmsNormTest, InferenceForwardMatchesTheTrainingForward) {
  at::manual_seed(23);
  const ModelConfig config = ::promptintern::testing::TinyConfig();
  const auto model = ::promptintern::testing::MakeRandomModel(4, config);
  ASSERT_TRUE(at::GradMode::is_enabled());
  const at::Tensor ids = at::randint(0, config.vocab_size, {2, 16}, at::kLong);
  const at::Tensor trained = model->Logits(*model->Forward(ids, {0, 0}, nullptr))->detach();
  at::Tensor inferred;
  {
    at::NoGradGuard no_grad;
    inferred = *model->Logits(*model->Forward(ids, {0, 0}, nullptr));
  }
  EXPECT_LT((inferred - trained).abs().max().item<double>(), 1e-5);
}

}  // namespace
}  // namespace promptintern
