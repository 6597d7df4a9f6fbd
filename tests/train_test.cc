#include "core/train/model_trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/causal_lm.h"
#include "core/train/lr_schedule.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::TinyConfig;

TEST(LrScheduleTest, WarmsUpLinearlyThenDecaysByCosine) {
  const LrSchedule schedule{1.0, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(schedule.At(0), 0.1);
  EXPECT_DOUBLE_EQ(schedule.At(9), 1.0);
  EXPECT_DOUBLE_EQ(schedule.At(10), 1.0);
  EXPECT_NEAR(schedule.At(60), 0.1 + 0.9 * 0.5, 1e-12);  // halfway: cos = 0
  EXPECT_NEAR(schedule.At(110), 0.1, 1e-12);
  EXPECT_NEAR(schedule.At(500), 0.1, 1e-12);
}

TEST(CausalLmTest, OnlyCompletionTokensAreTargets) {
  auto batch = CollateBatch({{{1, 10, 11}, {20, 21, 2}}, {{1, 12}, {22}}}, 0, 32);
  ASSERT_THAT(batch, IsOk());
  EXPECT_EQ(batch->target_tokens, 4);
  EXPECT_EQ(batch->tokens_in_batch, 9);
  const std::vector<int64_t> row0(batch->targets[0].data_ptr<int64_t>(), batch->targets[0].data_ptr<int64_t>() + 6);
  EXPECT_EQ(row0, (std::vector<int64_t>{kIgnoreTarget, kIgnoreTarget, 20, 21, 2, kIgnoreTarget}));
  const std::vector<int64_t> row1(batch->targets[1].data_ptr<int64_t>(), batch->targets[1].data_ptr<int64_t>() + 6);
  EXPECT_EQ(row1, (std::vector<int64_t>{kIgnoreTarget, 22, kIgnoreTarget, kIgnoreTarget, kIgnoreTarget, kIgnoreTarget}));
}

TEST(CausalLmTest, OverlongSequencesLosePromptFromTheLeft) {
  auto batch = CollateBatch({{{1, 2, 3, 4, 5, 6}, {7, 8}}}, 0, 5);
  ASSERT_THAT(batch, IsOk());
  const std::vector<int64_t> tokens(batch->tokens.data_ptr<int64_t>(), batch->tokens.data_ptr<int64_t>() + 5);
  EXPECT_EQ(tokens, (std::vector<int64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(batch->target_tokens, 2);
}

// The prompt prefix (BOS) every prompt starts with survives truncation; what goes is the prompt
// right after it.
TEST(CausalLmTest, OverlongSequencesKeepThePromptPrefix) {
  auto batch = CollateBatch({{{1, 2, 3, 4, 5, 6}, {7, 8}, /*kept_prefix=*/1}}, 0, 5);
  ASSERT_THAT(batch, IsOk());
  const std::vector<int64_t> tokens(batch->tokens.data_ptr<int64_t>(), batch->tokens.data_ptr<int64_t>() + 5);
  EXPECT_EQ(tokens, (std::vector<int64_t>{1, 5, 6, 7, 8}));
  EXPECT_EQ(batch->target_tokens, 2);
  // Without a prefix (Qwen) an empty prompt is allowed: the first completion token has no context.
  auto bare = CollateBatch({{{}, {7, 8, 9}, 0}}, 0, 16);
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->target_tokens, 2);
  EXPECT_FALSE(CollateBatch({{{1}, {7}, 2}}, 0, 16).ok()) << "a prefix longer than the prompt";
}

TEST(CausalLmTest, LossIgnoresPromptTokens) {
  auto model = MakeRandomModel(41);
  ASSERT_NE(model, nullptr);
  // Same completion after different prompts of the same length: the prompt tokens are not scored,
  // so a batch with the completion masked out entirely has no loss at all.
  auto batch = CollateBatch({{{1, 5, 6, 7}, {8}}}, 0, 16);
  ASSERT_THAT(batch, IsOk());
  c10::InferenceMode guard;
  auto loss = CausalLmLossSum(*model, *batch);
  ASSERT_THAT(loss, IsOk());
  auto logits = *model->Logits(*model->Forward(batch->tokens, {0}, nullptr));
  const double expected = -at::log_softmax(logits[0][3], -1)[8].item<double>();
  EXPECT_NEAR(loss->item<double>(), expected, 1e-5);
}

// The toy corpus: "count up" sequences. Each prompt is a start number, the completion counts on.
std::vector<TrainingExample> CountingExamples(int count, uint64_t seed) {
  std::vector<TrainingExample> examples;
  std::mt19937 random(seed);
  for (int i = 0; i < count; ++i) {
    const int start = 4 + static_cast<int>(random() % 40);
    TrainingExample example;
    example.prompt_ids = {1, start};
    for (int k = 1; k <= 6; ++k) example.completion_ids.push_back(start + k);
    examples.push_back(example);
  }
  return examples;
}

TEST(ModelTrainerTest, TrainingFromScratchDrivesLossDown) {
  ModelConfig config = TinyConfig();
  config.initializer_range = 0.02;
  auto model = MakeRandomModel(42, config);
  ASSERT_NE(model, nullptr);
  OptimizerConfig optimizer;
  optimizer.schedule = {3e-3, 10, 150, 0.1};
  auto trainer = ModelTrainer::Create(model.get(), optimizer, /*lora_only=*/false);
  ASSERT_THAT(trainer, IsOk());
  auto held_out = CollateBatch(CountingExamples(32, 999), 0, 16);
  ASSERT_THAT(held_out, IsOk());
  auto initial = (*trainer)->EvaluateLoss({*held_out});
  ASSERT_THAT(initial, IsOk());
  // A uniform guess over 64 tokens costs ln 64 = 4.16 nats.
  EXPECT_NEAR(*initial, std::log(64.0), 0.3);
  for (int step = 0; step < 150; ++step) {
    auto batch = CollateBatch(CountingExamples(16, step), 0, 16);
    ASSERT_THAT(batch, IsOk());
    ASSERT_TRUE((*trainer)->Step({*batch}).ok());
  }
  auto final_loss = (*trainer)->EvaluateLoss({*held_out});
  ASSERT_THAT(final_loss, IsOk());
  // The stated margin: counting is learnable, so held-out loss must fall below a quarter of the start.
  EXPECT_LT(*final_loss, *initial * 0.25) << "initial " << *initial << " final " << *final_loss;
}

TEST(ModelTrainerTest, GradientAccumulationEqualsOneLargeBatch) {
  auto examples = CountingExamples(8, 5);
  const std::vector<TrainingExample> first(examples.begin(), examples.begin() + 3);
  const std::vector<TrainingExample> second(examples.begin() + 3, examples.end());
  OptimizerConfig optimizer;
  optimizer.schedule = {1e-2, 0, 10, 1.0};
  optimizer.weight_decay = 0.01;

  auto whole_model = MakeRandomModel(43);
  auto accumulated_model = MakeRandomModel(43);
  auto whole = ModelTrainer::Create(whole_model.get(), optimizer, false);
  auto accumulated = ModelTrainer::Create(accumulated_model.get(), optimizer, false);
  ASSERT_TRUE(whole.ok() && accumulated.ok());
  auto whole_stats = (*whole)->Step({*CollateBatch(examples, 0, 16)});
  auto accumulated_stats = (*accumulated)->Step({*CollateBatch(first, 0, 16), *CollateBatch(second, 0, 16)});
  ASSERT_TRUE(whole_stats.ok() && accumulated_stats.ok());
  EXPECT_NEAR(whole_stats->loss, accumulated_stats->loss, 1e-5);
  EXPECT_NEAR(whole_stats->grad_norm, accumulated_stats->grad_norm, 1e-5);
  const auto a = whole_model->NamedWeights();
  const auto b = accumulated_model->NamedWeights();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_LT((a[i].second - b[i].second).abs().max().item<double>(), 1e-6) << a[i].first;
  }
}

TEST(ModelTrainerTest, GradientClippingBoundsTheUpdate) {
  auto model = MakeRandomModel(44);
  OptimizerConfig optimizer;
  optimizer.max_grad_norm = 1e-3;
  auto trainer = ModelTrainer::Create(model.get(), optimizer, false);
  ASSERT_THAT(trainer, IsOk());
  auto stats = (*trainer)->Step({*CollateBatch(CountingExamples(4, 1), 0, 16)});
  ASSERT_THAT(stats, IsOk());
  EXPECT_GT(stats->grad_norm, 1e-3);  // reported before clipping
  double clipped_norm_sq = 0;
  for (auto& [name, weight] : model->NamedWeights()) clipped_norm_sq += weight.grad().pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(clipped_norm_sq), 1e-3, 1e-5);
}

TEST(ModelTrainerTest, LoraOnlyTrainingLeavesBaseWeightsUntouched) {
  auto model = MakeRandomModel(45);
  auto reference = MakeRandomModel(45);
  ASSERT_THAT(AttachLora(*model, LoraConfig{}, 1), IsOk());
  OptimizerConfig optimizer;
  optimizer.schedule = {1e-2, 0, 10, 1.0};
  auto trainer = ModelTrainer::Create(model.get(), optimizer, /*lora_only=*/true);
  ASSERT_THAT(trainer, IsOk());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*trainer)->Step({*CollateBatch(CountingExamples(4, i), 0, 16)}).ok());
  const auto trained = model->NamedWeights();
  const auto original = reference->NamedWeights();
  for (size_t i = 0; i < trained.size(); ++i) EXPECT_TRUE(at::equal(trained[i].second, original[i].second));
  double adapter_change = 0;
  for (const at::Tensor& p : LoraParameters(*model)) adapter_change += p.abs().sum().item<double>();
  EXPECT_GT(adapter_change, 0);
  EXPECT_LT((*trainer)->num_trainable_parameters(), static_cast<size_t>(model->config().NumParameters()));
}

TEST(ModelTrainerTest, OptimizerStateRoundTripsSoResumedTrainingIsIdentical) {
  OptimizerConfig optimizer;
  optimizer.schedule = {1e-2, 2, 10, 0.1};
  auto straight_model = MakeRandomModel(46);
  auto straight = ModelTrainer::Create(straight_model.get(), optimizer, false);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*straight)->Step({*CollateBatch(CountingExamples(4, i), 0, 16)}).ok());

  auto first_model = MakeRandomModel(46);
  auto first = ModelTrainer::Create(first_model.get(), optimizer, false);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE((*first)->Step({*CollateBatch(CountingExamples(4, i), 0, 16)}).ok());
  const std::string state = ::promptintern::testing::MakeTempDir("optimizer_state") + "/optimizer.pt";
  ASSERT_TRUE((*first)->SaveState(state).ok());
  auto resumed = ModelTrainer::Create(first_model.get(), optimizer, false);
  ASSERT_TRUE((*resumed)->LoadState(state).ok());
  EXPECT_EQ((*resumed)->steps_taken(), 2);
  for (int i = 2; i < 4; ++i) ASSERT_TRUE((*resumed)->Step({*CollateBatch(CountingExamples(4, i), 0, 16)}).ok());
  const auto a = straight_model->NamedWeights();
  const auto b = first_model->NamedWeights();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

}  // namespace
}  // namespace promptintern
