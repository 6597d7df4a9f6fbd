#include "core/lora/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/model/decoder.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::MakeTempDir;

at::Tensor Logits(const DecoderModel& model, const at::Tensor& tokens) {
  c10::InferenceMode guard;
  return *model.Logits(*model.Forward(tokens, std::vector<int64_t>(tokens.size(0), 0), nullptr));
}

// Gives every adapter random B, as if trained, so the update is not zero.
void RandomizeAdapters(DecoderModel& model) {
  at::NoGradGuard no_grad;
  for (auto& [path, projection] : model.NamedProjections()) {
    if (projection->has_lora()) projection->lora_b.normal_(0.0, 0.1);
  }
}

TEST(LoraTest, FreshAdapterChangesNothing) {
  auto model = MakeRandomModel(31);
  ASSERT_NE(model, nullptr);
  const at::Tensor tokens = at::randint(0, 64, {1, 10}, at::kLong);
  const at::Tensor before = Logits(*model, tokens);
  ASSERT_TRUE(AttachLora(*model, LoraConfig{}, 1).ok());
  EXPECT_TRUE(at::allclose(before, Logits(*model, tokens), 0, 1e-6));
}

TEST(LoraTest, MergedModelEqualsUnmergedModel) {
  auto model = MakeRandomModel(32);
  ASSERT_NE(model, nullptr);
  LoraConfig config;
  config.rank = 4;
  config.alpha = 8;
  config.target_modules = {"q_proj", "v_proj", "down_proj"};
  ASSERT_TRUE(AttachLora(*model, config, 2).ok());
  RandomizeAdapters(*model);
  const at::Tensor tokens = at::randint(0, 64, {2, 12}, at::kLong);
  const at::Tensor unmerged = Logits(*model, tokens);
  auto base = MakeRandomModel(32);
  EXPECT_GT((unmerged - Logits(*base, tokens)).abs().max().item<double>(), 1e-3) << "adapter must matter";
  ASSERT_TRUE(MergeLora(*model).ok());
  EXPECT_TRUE(LoraParameters(*model).empty());
  EXPECT_LT((Logits(*model, tokens) - unmerged).abs().max().item<double>(), 1e-4);
}

TEST(LoraTest, AdapterSavesAndLoadsInPeftLayout) {
  auto model = MakeRandomModel(33);
  ASSERT_NE(model, nullptr);
  LoraConfig config;
  config.rank = 2;
  config.target_modules = {"k_proj", "up_proj"};
  ASSERT_TRUE(AttachLora(*model, config, 3).ok());
  RandomizeAdapters(*model);
  const std::string dir = MakeTempDir("lora_adapter");
  ASSERT_TRUE(SaveLoraAdapter(*model, config, "tiny-base", dir).ok());

  auto fresh = MakeRandomModel(33);
  auto loaded_config = LoadLoraAdapter(*fresh, dir);
  ASSERT_TRUE(loaded_config.ok()) << loaded_config.status();
  EXPECT_EQ(loaded_config->rank, 2);
  EXPECT_EQ(loaded_config->target_modules, config.target_modules);
  const at::Tensor tokens = at::randint(0, 64, {1, 8}, at::kLong);
  EXPECT_TRUE(at::equal(Logits(*model, tokens), Logits(*fresh, tokens)));

  // An adapter for another base (different shapes) is refused with the module named.
  ModelConfig wider = ::promptintern::testing::TinyConfig();
  wider.intermediate_size = 96;
  auto other = MakeRandomModel(34, wider);
  auto refused = LoadLoraAdapter(*other, dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("up_proj"), std::string::npos) << refused.status();
}

TEST(LoraTest, InvalidConfigsAreNamed) {
  LoraConfig config;
  config.target_modules = {"qkv_proj"};
  EXPECT_NE(std::string(config.Validate().message()).find("qkv_proj"), std::string::npos);
  config = LoraConfig{};
  config.rank = 0;
  EXPECT_FALSE(config.Validate().ok());
}

}  // namespace
}  // namespace promptintern
