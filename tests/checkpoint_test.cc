#include "core/checkpoint/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/model/decoder.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::TinyConfig;

void ExpectBitExact(const DecoderModel& a, const DecoderModel& b) {
  const auto wa = a.NamedWeights();
  const auto wb = b.NamedWeights();
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(at::equal(wa[i].second, wb[i].second)) << wa[i].first;
  }
}

TEST(CheckpointTest, SaveThenLoadRoundTripsBitExactly) {
  for (bool tied : {false, true}) {
    ModelConfig config = TinyConfig();
    config.tie_word_embeddings = tied;
    auto model = MakeRandomModel(21, config);
    ASSERT_NE(model, nullptr);
    const std::string dir = MakeTempDir(tied ? "roundtrip_tied" : "roundtrip");
    ASSERT_THAT(SaveModel(*model, nullptr, dir), IsOk());
    auto loaded = LoadModel(dir);
    ASSERT_THAT(loaded, IsOk());
    EXPECT_EQ((*loaded)->config().tie_word_embeddings, tied);
    ExpectBitExact(*model, **loaded);
  }
}

TEST(CheckpointTest, ShardedCheckpointRoundTrips) {
  auto model = MakeRandomModel(22);
  ASSERT_NE(model, nullptr);
  const std::string dir = MakeTempDir("sharded");
  SaveOptions options;
  options.max_shard_bytes = 16 * 1024;
  ASSERT_THAT(SaveModel(*model, nullptr, dir, options), IsOk());
  EXPECT_FALSE(PathExists(JoinPath(dir, kWeightsFile)));
  EXPECT_TRUE(PathExists(JoinPath(dir, kWeightsIndexFile)));
  int shards = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    shards += entry.path().filename().string().rfind("model-0", 0) == 0;
  }
  EXPECT_GE(shards, 2);
  auto loaded = LoadModel(dir);
  ASSERT_THAT(loaded, IsOk());
  ExpectBitExact(*model, **loaded);
}

TEST(CheckpointTest, HalfPrecisionCheckpointsLoadAsTheRoundedValues) {
  auto model = MakeRandomModel(23);
  ASSERT_NE(model, nullptr);
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    const std::string dir = MakeTempDir(std::string("half_") + std::string(DTypeName(dtype)));
    SaveOptions options;
    options.dtype = dtype;
    ASSERT_THAT(SaveModel(*model, nullptr, dir, options), IsOk());
    auto loaded = LoadModel(dir);
    ASSERT_THAT(loaded, IsOk());
    const auto original = model->NamedWeights();
    const auto restored = (*loaded)->NamedWeights();
    const auto type = dtype == DType::kF16 ? at::kHalf : at::kBFloat16;
    for (size_t i = 0; i < original.size(); ++i) {
      EXPECT_TRUE(at::equal(original[i].second.to(type).to(at::kFloat), restored[i].second)) << original[i].first;
    }
  }
}

// Writes a valid checkpoint, lets `damage` change its tensors or config, and expects LoadModel to
// fail with `expected` in the message.
void ExpectLoadFails(const std::string& name, const std::function<void(std::map<std::string, at::Tensor>&,
                                                                       nlohmann::json&)>& damage,
                     const std::string& expected) {
  auto model = MakeRandomModel(24);
  ASSERT_NE(model, nullptr);
  const std::string dir = MakeTempDir(name);
  ASSERT_THAT(SaveModel(*model, nullptr, dir), IsOk());
  auto weights = model->NamedWeights();
  std::map<std::string, at::Tensor> tensors(weights.begin(), weights.end());
  nlohmann::json config = nlohmann::json::parse(*ReadFile(JoinPath(dir, kConfigFile)));
  damage(tensors, config);
  ASSERT_THAT(WriteTensors(JoinPath(dir, kWeightsFile), tensors, DType::kF32, {}), IsOk());
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kConfigFile), config.dump()), IsOk());
  auto loaded = LoadModel(dir);
  ASSERT_FALSE(loaded.ok()) << name;
  EXPECT_NE(std::string(loaded.status().message()).find(expected), std::string::npos) << loaded.status();
}

TEST(CheckpointTest, MissingTensorIsNamed) {
  ExpectLoadFails("missing", [](auto& tensors, auto&) { tensors.erase("model.layers.1.mlp.up_proj.weight"); },
                  "missing tensor 'model.layers.1.mlp.up_proj.weight'");
}

TEST(CheckpointTest, ExtraTensorIsNamed) {
  ExpectLoadFails("extra", [](auto& tensors, auto&) { tensors["model.layers.9.surprise.weight"] = at::zeros({2}); },
                  "unexpected tensor 'model.layers.9.surprise.weight'");
}

TEST(CheckpointTest, ConfigThatDisagreesWithWeightsIsRefused) {
  ExpectLoadFails("config_hidden", [](auto&, auto& config) { config["intermediate_size"] = 96; },
                  "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [64, 32] but config.json implies [96, 32]");
  ExpectLoadFails("config_layers", [](auto&, auto& config) { config["num_hidden_layers"] = 3; },
                  "missing tensor 'model.layers.2.");
  ExpectLoadFails("config_untied", [](auto& tensors, auto& config) {
    tensors.erase("lm_head.weight");
    config["tie_word_embeddings"] = false;
  }, "missing tensor 'lm_head.weight'");
}

TEST(CheckpointTest, DamagedFilesAreRefusedNotCrashedOn) {
  auto model = MakeRandomModel(25);
  ASSERT_NE(model, nullptr);
  const std::string dir = MakeTempDir("damaged");
  ASSERT_THAT(SaveModel(*model, nullptr, dir), IsOk());
  const std::string weights = JoinPath(dir, kWeightsFile);
  const std::string intact = *ReadFile(weights);

  ASSERT_THAT(WriteFileAtomic(weights, intact.substr(0, intact.size() / 2)), IsOk());
  EXPECT_NE(std::string(LoadModel(dir).status().message()).find("file truncated?"), std::string::npos);

  std::string wrong_dtype = intact;
  const size_t at = wrong_dtype.find("\"F32\"");
  wrong_dtype.replace(at, 5, "\"I64\"");
  ASSERT_THAT(WriteFileAtomic(weights, wrong_dtype), IsOk());
  EXPECT_NE(std::string(LoadModel(dir).status().message()).find("unsupported dtype \"I64\""), std::string::npos);

  ASSERT_THAT(WriteFileAtomic(weights, intact), IsOk());
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kConfigFile), "{\"hidden_size\": 32"), IsOk());
  EXPECT_NE(std::string(LoadModel(dir).status().message()).find("not valid JSON"), std::string::npos);

  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kConfigFile), R"({"hidden_size": 32, "vocab_size": 64})"), IsOk());
  EXPECT_NE(std::string(LoadModel(dir).status().message()).find("missing required field \"intermediate_size\""),
            std::string::npos);

  ASSERT_THAT(SaveModel(*model, nullptr, dir), IsOk());
  std::filesystem::remove(weights);
  EXPECT_THAT(LoadModel(dir), StatusIs(absl::StatusCode::kNotFound));
}

TEST(CheckpointTest, ShardIndexCannotPointOutsideTheCheckpoint) {
  auto model = MakeRandomModel(26);
  ASSERT_NE(model, nullptr);
  const std::string dir = MakeTempDir("index_escape");
  SaveOptions options;
  options.max_shard_bytes = 16 * 1024;
  ASSERT_THAT(SaveModel(*model, nullptr, dir, options), IsOk());
  nlohmann::json index = nlohmann::json::parse(*ReadFile(JoinPath(dir, kWeightsIndexFile)));
  index["weight_map"]["model.norm.weight"] = "../../etc/passwd";
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kWeightsIndexFile), index.dump()), IsOk());
  auto loaded = LoadModel(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(std::string(loaded.status().message()).find("not a file name in the checkpoint directory"),
            std::string::npos);
}

TEST(ModelConfigTest, UnsupportedArchitecturesAreNamed) {
  EXPECT_NE(std::string(ParseModelConfig(R"({"model_type":"gpt2"})", "c").status().message()).find("gpt2"),
            std::string::npos);
  EXPECT_NE(std::string(ParseModelConfig(R"({"hidden_act":"gelu"})", "c").status().message()).find("hidden_act"),
            std::string::npos);
  EXPECT_NE(std::string(ParseModelConfig(R"({"rope_scaling":{"type":"linear"}})", "c").status().message())
                .find("rope_scaling"),
            std::string::npos);
}

}  // namespace
}  // namespace promptintern
