#include "core/lora/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint/checkpoint.h"
#include "core/model/architecture.h"
#include "core/model/decoder.h"
#include "core/safetensors/safetensors.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
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
  ASSERT_THAT(AttachLora(*model, LoraConfig{}, 1), IsOk());
  EXPECT_TRUE(at::allclose(before, Logits(*model, tokens), 0, 1e-6));
}

TEST(LoraTest, MergedModelEqualsUnmergedModel) {
  auto model = MakeRandomModel(32);
  ASSERT_NE(model, nullptr);
  LoraConfig config;
  config.rank = 4;
  config.alpha = 8;
  config.target_modules = {"q_proj", "v_proj", "down_proj"};
  ASSERT_THAT(AttachLora(*model, config, 2), IsOk());
  RandomizeAdapters(*model);
  const at::Tensor tokens = at::randint(0, 64, {2, 12}, at::kLong);
  const at::Tensor unmerged = Logits(*model, tokens);
  auto base = MakeRandomModel(32);
  EXPECT_GT((unmerged - Logits(*base, tokens)).abs().max().item<double>(), 1e-3) << "adapter must matter";
  ASSERT_THAT(MergeLora(*model), IsOk());
  EXPECT_TRUE(LoraParameters(*model).empty());
  EXPECT_LT((Logits(*model, tokens) - unmerged).abs().max().item<double>(), 1e-4);
}

TEST(LoraTest, AdapterSavesAndLoadsInPeftLayout) {
  auto model = MakeRandomModel(33);
  ASSERT_NE(model, nullptr);
  LoraConfig config;
  config.rank = 2;
  config.target_modules = {"k_proj", "up_proj"};
  ASSERT_THAT(AttachLora(*model, config, 3), IsOk());
  RandomizeAdapters(*model);
  const std::string dir = MakeTempDir("lora_adapter");
  ASSERT_THAT(SaveLoraAdapter(*model, config, "tiny-base", dir), IsOk());

  auto fresh = MakeRandomModel(33);
  auto loaded_config = LoadLoraAdapter(*fresh, dir);
  ASSERT_THAT(loaded_config, IsOk());
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

// Every family of the architecture table: adapters on all seven projections are named as PEFT
// names them for that family's Hugging Face model (base_model.model.model.layers.N.<path>), and
// they save and load into a fresh copy of the base with the same logits, merged or not.
TEST(LoraTest, AdaptersOfEveryFamilyUsePeftNamesAndRoundTrip) {
  const std::string fixtures = ::promptintern::testing::SharedDir() + "/models/arch-fixtures";
  if (!PathExists(fixtures)) GTEST_SKIP() << "../shared/models/arch-fixtures is absent";
  for (const char* family : {"llama3", "mistral", "qwen2", "qwen3", "gemma3"}) {
    SCOPED_TRACE(family);
    const std::string base = fixtures + "/" + family;
    auto model = LoadModel(base);
    ASSERT_THAT(model, IsOk());
    LoraConfig config;
    config.rank = 2;
    ASSERT_THAT(AttachLora(**model, config, 5), IsOk());
    RandomizeAdapters(**model);
    const std::string dir = MakeTempDir(std::string("lora_family_") + family);
    ASSERT_THAT(SaveLoraAdapter(**model, config, base, dir), IsOk());
    auto file = SafetensorsFile::Open(dir + "/" + kAdapterWeightsFile);
    ASSERT_THAT(file, IsOk());
    const int64_t layers = (*model)->config().num_hidden_layers;
    EXPECT_EQ((*file)->tensors().size(), static_cast<size_t>(layers * 7 * 2));
    for (const ProjectionName& projection : ProjectionNames()) {
      const std::string module = std::string("base_model.model.model.layers.0.") + projection.path;
      EXPECT_NE((*file)->Find(module + ".lora_A.weight"), nullptr) << module;
      EXPECT_NE((*file)->Find(module + ".lora_B.weight"), nullptr) << module;
    }
    auto fresh = LoadModel(base);
    ASSERT_THAT(fresh, IsOk());
    ASSERT_THAT(LoadLoraAdapter(**fresh, dir), IsOk());
    const at::Tensor tokens = at::randint(0, 200, {1, 9}, at::kLong);
    const at::Tensor expected = Logits(**model, tokens);
    EXPECT_TRUE(at::equal(expected, Logits(**fresh, tokens)));
    ASSERT_THAT(MergeLora(**fresh), IsOk());
    EXPECT_LT((Logits(**fresh, tokens) - expected).abs().max().item<double>(), 1e-4);
  }
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
