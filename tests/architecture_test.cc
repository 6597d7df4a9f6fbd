// The decoder against an independent float64 reference for every family of the architecture
// table (../shared/models/arch-fixtures): prompt logits within 1e-4 and the 20 greedy ids exact,
// in one pass, token by token with the KV cache, batched beside a prompt of another length, and
// through `promptintern generate --prompt-ids`.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "core/checkpoint/checkpoint.h"
#include "core/model/architecture.h"
#include "core/model/config.h"
#include "core/model/decoder.h"
#include "core/serve/output_processor.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr double kLogitTolerance = 1e-4;

struct Fixture {
  std::string directory;
  std::vector<int64_t> prompt_ids;
  at::Tensor prompt_logits;  // [12, vocab] float64
  std::vector<int> greedy_ids;
};

class ArchitectureFixtureTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    fixture_.directory = JoinPath(::promptintern::testing::SharedDir(), "models/arch-fixtures/" + GetParam());
    if (!PathExists(JoinPath(fixture_.directory, "expected.json"))) {
      GTEST_SKIP() << "../shared/models/arch-fixtures/" << GetParam() << " is absent";
    }
    const json expected = json::parse(*ReadFile(JoinPath(fixture_.directory, "expected.json")));
    fixture_.prompt_ids = expected["prompt_ids"].get<std::vector<int64_t>>();
    fixture_.greedy_ids = expected["greedy_new_ids"].get<std::vector<int>>();
    std::vector<double> flat;
    for (const json& row : expected["prompt_logits"]) {
      for (const json& value : row) flat.push_back(value.get<double>());
    }
    const int64_t positions = static_cast<int64_t>(expected["prompt_logits"].size());
    fixture_.prompt_logits = at::tensor(flat, at::kDouble).view({positions, -1});
  }

  std::unique_ptr<DecoderModel> Load(bool for_serving) {
    auto model = for_serving ? LoadModelForServing(fixture_.directory) : LoadModel(fixture_.directory);
    EXPECT_THAT(model, IsOk());
    return model.ok() ? std::move(*model) : nullptr;
  }

  static double MaxDifference(const at::Tensor& logits, const at::Tensor& expected) {
    return (logits.to(at::kDouble) - expected).abs().max().item<double>();
  }

  Fixture fixture_;
};

TEST_P(ArchitectureFixtureTest, OnePassPromptLogitsMatchTheReference) {
  c10::InferenceMode guard;
  for (bool for_serving : {false, true}) {
    auto model = Load(for_serving);
    ASSERT_NE(model, nullptr);
    const at::Tensor tokens = at::tensor(fixture_.prompt_ids, at::kLong).view({1, -1});
    auto hidden = model->Forward(tokens, {0}, nullptr);
    ASSERT_THAT(hidden, IsOk());
    auto logits = model->Logits(*hidden);
    ASSERT_THAT(logits, IsOk());
    EXPECT_LT(MaxDifference((*logits)[0], fixture_.prompt_logits), kLogitTolerance)
        << (for_serving ? "weights as stored" : "float32 weights");
  }
}

TEST_P(ArchitectureFixtureTest, TokenByTokenWithTheCacheMatchesTheReference) {
  c10::InferenceMode guard;
  auto model = Load(/*for_serving=*/true);
  ASSERT_NE(model, nullptr);
  auto cache = model->AllocateCache(1, 64);
  ASSERT_THAT(cache, IsOk());
  const at::Tensor tokens = at::tensor(fixture_.prompt_ids, at::kLong).view({1, -1});
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < tokens.size(1); ++t) {
    auto hidden = model->Forward(tokens.narrow(1, t, 1), {t}, &*cache);
    ASSERT_THAT(hidden, IsOk());
    rows.push_back((*model->Logits(*hidden))[0][0]);
  }
  EXPECT_LT(MaxDifference(at::stack(rows), fixture_.prompt_logits), kLogitTolerance);
}

TEST_P(ArchitectureFixtureTest, BatchedBesideAPromptOfAnotherLengthMatchesTheReference) {
  c10::InferenceMode guard;
  auto model = Load(/*for_serving=*/true);
  ASSERT_NE(model, nullptr);
  const int64_t length = static_cast<int64_t>(fixture_.prompt_ids.size());
  // Row 1 is a shorter, different prompt, right-padded with its own first token.
  std::vector<int64_t> other(fixture_.prompt_ids.rbegin(), fixture_.prompt_ids.rbegin() + 5);
  std::vector<int64_t> padded = fixture_.prompt_ids;
  for (int64_t i = 0; i < length; ++i) padded.push_back(i < 5 ? other[i] : other[0]);
  auto cache = model->AllocateCache(2, 64);
  ASSERT_THAT(cache, IsOk());
  auto hidden = model->Forward(at::tensor(padded, at::kLong).view({2, length}), {0, 0}, &*cache);
  ASSERT_THAT(hidden, IsOk());
  const at::Tensor logits = *model->Logits(*hidden);
  EXPECT_LT(MaxDifference(logits[0], fixture_.prompt_logits), kLogitTolerance);

  auto alone = model->Forward(at::tensor(other, at::kLong).view({1, 5}), {0}, nullptr);
  ASSERT_THAT(alone, IsOk());
  EXPECT_LT((logits[1].narrow(0, 0, 5) - (*model->Logits(*alone))[0]).abs().max().item<double>(), kLogitTolerance);
}

TEST_P(ArchitectureFixtureTest, GreedyIdsMatchTheReferenceAloneAndBatched) {
  auto model = Load(/*for_serving=*/true);
  ASSERT_NE(model, nullptr);
  EngineRequest request;
  request.prompt_ids.assign(fixture_.prompt_ids.begin(), fixture_.prompt_ids.end());
  request.max_new_tokens = static_cast<int>(fixture_.greedy_ids.size());
  EngineRequest shorter = request;
  shorter.prompt_ids.resize(7);
  shorter.max_new_tokens = 9;
  auto alone = GenerateOffline(*model, {request}, {});
  ASSERT_THAT(alone, IsOk());
  EXPECT_EQ(alone->front().token_ids, fixture_.greedy_ids);
  auto batched = GenerateOffline(*model, {shorter, request}, {});
  ASSERT_THAT(batched, IsOk());
  EXPECT_EQ((*batched)[1].token_ids, fixture_.greedy_ids);
}

TEST_P(ArchitectureFixtureTest, CommandLineGeneratePrintsTheReferenceIds) {
  const std::string output = JoinPath(::promptintern::testing::MakeTempDir("arch_cli_" + GetParam()), "ids.txt");
  const std::string command = ::promptintern::testing::BinaryDir() + "/promptintern generate --model " +
                              fixture_.directory + " --prompt-ids \"" + absl::StrJoin(fixture_.prompt_ids, " ") +
                              "\" --print-ids --temperature 0 --max-tokens 20 > " + output;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_EQ(*ReadFile(output), absl::StrJoin(fixture_.greedy_ids, " ") + "\n");
}

TEST_P(ArchitectureFixtureTest, SavedCheckpointReloadsWithTheSameConfigAndLogits) {
  c10::InferenceMode guard;
  auto model = Load(/*for_serving=*/false);
  ASSERT_NE(model, nullptr);
  const std::string saved = ::promptintern::testing::MakeTempDir("arch_saved_" + GetParam());
  ASSERT_THAT(SaveModel(*model, nullptr, saved), IsOk());
  const json original = json::parse(*ReadFile(JoinPath(fixture_.directory, kConfigFile)));
  const json written = json::parse(*ReadFile(JoinPath(saved, kConfigFile)));
  EXPECT_EQ(written["model_type"], original["model_type"]);
  EXPECT_EQ(written["architectures"], original["architectures"]);
  EXPECT_EQ(written["eos_token_id"], original["eos_token_id"]);
  EXPECT_EQ(written["torch_dtype"], "float32");
  for (const char* key : {"head_dim", "rope_scaling", "sliding_window", "use_sliding_window", "layer_types",
                          "query_pre_attn_scalar", "rope_local_base_freq", "hidden_activation"}) {
    if (original.contains(key)) EXPECT_EQ(written[key], original[key]) << key;
  }
  auto reloaded = LoadModel(saved);
  ASSERT_THAT(reloaded, IsOk());
  const at::Tensor tokens = at::tensor(fixture_.prompt_ids, at::kLong).view({1, -1});
  const at::Tensor before = *model->Logits(*model->Forward(tokens, {0}, nullptr));
  const at::Tensor after = *(*reloaded)->Logits(*(*reloaded)->Forward(tokens, {0}, nullptr));
  EXPECT_TRUE(at::equal(before, after));
}

INSTANTIATE_TEST_SUITE_P(Families, ArchitectureFixtureTest,
                         ::testing::Values("llama3", "qwen2", "qwen3", "mistral", "gemma3"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Configs the decoder does not implement are refused with the field named.
TEST(ModelConfigTest, UnsupportedConfigsAreRefusedNamingTheField) {
  const std::string base =
      R"("hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model_type": "phi3", )" + base + "}", "model_type \"phi3\" is not supported: Phi-3 fuses"},
      {R"({"model_type": "gemma3", )" + base + "}", "multimodal Gemma 3"},
      {R"({"model_type": "falcon", )" + base + "}", "model_type \"falcon\" is not supported (supported: llama"},
      {R"({"model_type": 7, )" + base + "}", "\"model_type\" must be a string"},
      {R"({"rope_scaling": {"rope_type": "yarn", "factor": 4}, )" + base + "}",
       "\"rope_scaling.rope_type\" \"yarn\" is not supported"},
      {R"({"rope_scaling": {"rope_type": "llama3", "factor": 8}, )" + base + "}",
       "\"rope_scaling.low_freq_factor\" must be a positive number"},
      {R"({"hidden_act": "relu", )" + base + "}", "\"hidden_act\" \"relu\" is not supported"},
      {R"({"model_type": "gemma3_text", "hidden_activation": "gelu", )" + base + "}",
       "\"hidden_activation\" \"gelu\" is not supported"},
      {R"({"mlp_bias": true, )" + base + "}", "\"mlp_bias\" = true is not supported"},
      {R"({"eos_token_id": [], )" + base + "}", "\"eos_token_id\" must be an integer or a non-empty list"},
      {R"({"eos_token_id": [2, 999], )" + base + "}", "eos_token_id 999 is outside the vocabulary"},
      {R"({"head_dim": 7, )" + base + "}", "head_dim 7 must be even"},
      {R"({"model_type": "gemma3_text", "sliding_window": 8, "layer_types": ["full_attention"], )" + base + "}",
       "\"layer_types\" must list one type for each of the 2 layers"},
      {R"({"model_type": "mistral", "sliding_window": -3, )" + base + "}", "\"sliding_window\" must be a positive"},
      {R"({"model_type": "qwen2", "architectures": ["Qwen2ForSequenceClassification"], )" + base + "}",
       "\"architectures\" \"Qwen2ForSequenceClassification\" is not supported: only causal language models"},
      {R"({"quantization_config": {"quant_method": "gptq", "bits": 4}, )" + base + "}",
       "\"quantization_config\" (gptq) is not supported"},
  };
  for (const auto& [text, message] : cases) {
    auto config = ParseModelConfig(text, "config.json");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_NE(std::string(config.status().message()).find(message), std::string::npos)
        << config.status().message() << "\n  expected: " << message;
  }
}

TEST(ModelConfigTest, FamilyRulesDecideWhichLayersSlide) {
  const std::string base =
      R"("hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "vocab_size": 256)";
  auto qwen_off = ParseModelConfig(R"({"model_type": "qwen2", "sliding_window": 16, "use_sliding_window": false, )" +
                                       base + "}",
                                   "qwen2");
  ASSERT_THAT(qwen_off, IsOk());
  EXPECT_EQ(qwen_off->sliding_window, 0);
  EXPECT_TRUE(qwen_off->qkv_bias);
  EXPECT_FALSE(qwen_off->o_bias);
  auto qwen_on = ParseModelConfig(
      R"({"model_type": "qwen2", "sliding_window": 16, "use_sliding_window": true, "max_window_layers": 2, )" + base + "}",
      "qwen2");
  ASSERT_THAT(qwen_on, IsOk());
  EXPECT_EQ(qwen_on->sliding_layers, (std::vector<bool>{false, false, true, true}));
  auto gemma = ParseModelConfig(R"({"model_type": "gemma3_text", "sliding_window": 8, "sliding_window_pattern": 2, )" +
                                    base + "}",
                                "gemma");
  ASSERT_THAT(gemma, IsOk());
  EXPECT_EQ(gemma->sliding_layers, (std::vector<bool>{true, false, true, false}));
  EXPECT_TRUE(gemma->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(gemma->query_pre_attn_scalar, 256);
  auto mistral = ParseModelConfig(R"({"model_type": "mistral", "sliding_window": 8, )" + base + "}", "mistral");
  ASSERT_THAT(mistral, IsOk());
  EXPECT_EQ(mistral->sliding_layers, (std::vector<bool>{true, true, true, true}));
  auto llama = ParseModelConfig(R"({"sliding_window": 8, "bos_token_id": null, "eos_token_id": [5, 6], )" + base + "}",
                                "llama");
  ASSERT_THAT(llama, IsOk());
  EXPECT_EQ(llama->sliding_window, 0);
  EXPECT_EQ(llama->bos_token_id, -1);
  EXPECT_TRUE(llama->is_eos(6));
  EXPECT_FALSE(llama->is_eos(2));
}

TEST(ModelConfigTest, EveryFixtureConfigRoundTripsThroughJson) {
  for (const char* family : {"llama3", "qwen2", "qwen3", "mistral", "gemma3"}) {
    const std::string path =
        JoinPath(::promptintern::testing::SharedDir(), std::string("models/arch-fixtures/") + family + "/config.json");
    if (!PathExists(path)) GTEST_SKIP() << "../shared/models/arch-fixtures is absent";
    auto config = LoadModelConfig(path);
    ASSERT_THAT(config, IsOk());
    auto again = ParseModelConfig(ModelConfigToJson(*config), "written");
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(*config)) << family;
    EXPECT_EQ(again->NumParameters(), config->NumParameters());
    EXPECT_EQ(again->sliding_layers, config->sliding_layers) << family;
  }
}

TEST(ModelConfigTest, ParameterCountMatchesTheTensorsOfEveryFamily) {
  for (const Architecture& architecture : Architectures()) {
    ModelConfig config;
    config.model_type = architecture.model_type;
    config.explicit_head_dim = 32;
    config.qkv_bias = true;
    config.o_bias = !architecture.always_qkv_bias;
    auto model = DecoderModel::Create(config);
    ASSERT_THAT(model, IsOk());
    int64_t total = 0;
    for (const auto& [name, weight] : (*model)->NamedWeights()) total += weight.numel();
    EXPECT_EQ(total, config.NumParameters()) << architecture.model_type;
  }
}

}  // namespace
}  // namespace promptintern
