#include "core/model/decoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::TinyConfig;

at::Tensor FullLogits(const DecoderModel& model, const at::Tensor& tokens) {
  auto hidden = model.Forward(tokens, std::vector<int64_t>(tokens.size(0), 0), nullptr);
  EXPECT_THAT(hidden, IsOk());
  auto logits = model.Logits(*hidden);
  EXPECT_THAT(logits, IsOk());
  return *logits;
}

TEST(DecoderModelTest, IncrementalDecodingWithCacheMatchesFullForward) {
  c10::InferenceMode guard;
  auto model = MakeRandomModel(7);
  ASSERT_NE(model, nullptr);
  const at::Tensor tokens = at::randint(0, 64, {1, 24}, at::kLong);
  const at::Tensor full = FullLogits(*model, tokens);

  auto cache = model->AllocateCache(1, 32);
  ASSERT_THAT(cache, IsOk());
  // Prefill 5 tokens, then one at a time.
  auto hidden = model->Forward(tokens.narrow(1, 0, 5), {0}, &*cache);
  ASSERT_THAT(hidden, IsOk());
  std::vector<at::Tensor> pieces = {*model->Logits(*hidden)};
  for (int64_t t = 5; t < 24; ++t) {
    auto step = model->Forward(tokens.narrow(1, t, 1), {t}, &*cache);
    ASSERT_THAT(step, IsOk());
    pieces.push_back(*model->Logits(*step));
  }
  const at::Tensor incremental = at::cat(pieces, 1);
  EXPECT_LT((incremental - full).abs().max().item<double>(), 1e-4);
}

TEST(DecoderModelTest, RowsOfABatchAreIndependentOfEachOther) {
  c10::InferenceMode guard;
  auto model = MakeRandomModel(11);
  ASSERT_NE(model, nullptr);
  const at::Tensor a = at::randint(0, 64, {1, 9}, at::kLong);
  const at::Tensor b = at::randint(0, 64, {1, 9}, at::kLong);
  const at::Tensor together = FullLogits(*model, at::cat({a, b}, 0));
  EXPECT_LT((together[0] - FullLogits(*model, a)[0]).abs().max().item<double>(), 1e-5);
  EXPECT_LT((together[1] - FullLogits(*model, b)[0]).abs().max().item<double>(), 1e-5);
}

TEST(DecoderModelTest, LaterTokensDoNotChangeEarlierLogits) {
  c10::InferenceMode guard;
  auto model = MakeRandomModel(3);
  ASSERT_NE(model, nullptr);
  const at::Tensor tokens = at::randint(0, 64, {1, 12}, at::kLong);
  const at::Tensor prefix = FullLogits(*model, tokens.narrow(1, 0, 6));
  const at::Tensor full = FullLogits(*model, tokens);
  EXPECT_LT((full.narrow(1, 0, 6) - prefix).abs().max().item<double>(), 1e-5);
}

TEST(DecoderModelTest, RejectsTokensOutsideVocabularyAndContext) {
  auto model = MakeRandomModel(1);
  ASSERT_NE(model, nullptr);
  auto bad_token = model->Forward(at::full({1, 3}, 64, at::kLong), {0}, nullptr);
  EXPECT_THAT(bad_token, StatusIs(absl::StatusCode::kInvalidArgument));
  auto too_long = model->Forward(at::zeros({1, 4}, at::kLong), {126}, nullptr);
  EXPECT_THAT(too_long, StatusIs(absl::StatusCode::kOutOfRange));
  auto wrong_dtype = model->Forward(at::zeros({1, 4}, at::kInt), {0}, nullptr);
  EXPECT_THAT(wrong_dtype, StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DecoderModelTest, ConfigRejectsInconsistentShapes) {
  ModelConfig config = TinyConfig();
  config.num_key_value_heads = 3;
  EXPECT_FALSE(DecoderModel::Create(config).ok());
  config = TinyConfig();
  config.hidden_size = 30;
  EXPECT_FALSE(DecoderModel::Create(config).ok());
}

TEST(DecoderModelTest, ParameterCountMatchesWeights) {
  auto model = MakeRandomModel(1);
  ASSERT_NE(model, nullptr);
  int64_t total = 0;
  for (const auto& [name, weight] : model->NamedWeights()) total += weight.numel();
  EXPECT_EQ(total, model->config().NumParameters());
}

}  // namespace
}  // namespace promptintern
