// Quality of the serving weight formats (LoadModelForServing / PackForServing with bf16 and int8)
// against the same model's float32 serving form, on two models:
//   - demo-sized: examples/jobs/demo.yaml's architecture (hidden 128, intermediate 344, 4 layers,
//     4 heads / 2 KV heads, vocab 1024) with random weights. At the default initializer (0.02)
//     every logit of a random model is a near-tie and agreement would measure noise; at 0.3 the
//     random network is chaotic (a rounding error grows through the layers); 0.1 gives peaked
//     next-token distributions without that. Prompts and held-out text are seeded random ids.
//   - stories260K (../shared), a real pretrained Llama, through the loading path a service uses;
//     prompts and held-out text are fixed English sentences in the style of TinyStories.
// Figures, per format, printed and asserted (issue 13): over the prompts, the greedy continuation
// of f32 (kContinuation tokens each) is replayed one token at a time through the format's model
// (batch-1 decode: the gemv-class kernels) and its argmax must agree with f32's next token on
// >= 95% of the positions; the free-running greedy output of the format (the engine, all prompts
// in one batch: the small-batch kernels) is compared position by position with f32's, >= 95% on
// the real model (on a random one a single flipped near-tie sends the rest of the continuation
// elsewhere, so there it is printed, not bounded); held-out loss (a full forward: the prefill
// path) rises by <= 1% (int8) / 0.2% (bf16).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/kernels/packed_weight.h"
#include "core/model/decoder.h"
#include "core/serve/engine.h"
#include "core/serve/output_processor.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/model_trainer.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

constexpr int kContinuation = 40;

struct QualityFigures {
  double replay_agreement = 0;      // teacher-forced decode, fraction of positions
  double free_running_agreement = 0;
  double loss = 0;                  // mean cross-entropy (nats/token) on the held-out text
};

// Greedy continuations of every prompt, all in one engine batch.
std::vector<std::vector<int>> GreedyContinuations(const DecoderModel& model, const std::vector<std::vector<int>>& prompts) {
  std::vector<EngineRequest> requests;
  for (const std::vector<int>& prompt : prompts) {
    EngineRequest request;
    request.prompt_ids = prompt;
    request.max_new_tokens = kContinuation;
    request.stop_at_eos = false;
    requests.push_back(request);
  }
  auto outputs = GenerateOffline(model, requests, {});
  EXPECT_THAT(outputs, IsOk());
  std::vector<std::vector<int>> continuations;
  if (!outputs.ok()) return continuations;
  for (const GenerationOutput& output : *outputs) continuations.push_back(output.token_ids);
  return continuations;
}

double MeanLoss(const DecoderModel& model, const std::vector<std::vector<int>>& texts) {
  double total = 0;
  int64_t count = 0;
  for (const std::vector<int>& text : texts) {
    const at::Tensor ids = at::tensor(std::vector<int64_t>(text.begin(), text.end()), at::kLong).unsqueeze(0);
    auto hidden = model.Forward(ids, {0}, nullptr);
    EXPECT_THAT(hidden, IsOk());
    const at::Tensor logits = *model.Logits(hidden->squeeze(0).narrow(0, 0, ids.size(1) - 1));
    const at::Tensor targets = ids.squeeze(0).narrow(0, 1, ids.size(1) - 1);
    total += at::cross_entropy_loss(logits, targets, {}, at::Reduction::Sum).item<double>();
    count += targets.numel();
  }
  return total / static_cast<double>(count);
}

// The fraction of f32's continuation tokens that `model` predicts (argmax) when fed f32's
// sequence one token at a time through its KV cache.
double ReplayAgreement(const DecoderModel& model, const std::vector<std::vector<int>>& prompts,
                       const std::vector<std::vector<int>>& reference) {
  int64_t agree = 0, total = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int> sequence = prompts[i];
    sequence.insert(sequence.end(), reference[i].begin(), reference[i].end());
    auto cache = model.AllocateCache(1, static_cast<int64_t>(sequence.size()));
    EXPECT_THAT(cache, IsOk());
    for (size_t p = 0; p + 1 < sequence.size(); ++p) {
      auto hidden = model.Forward(at::full({1, 1}, sequence[p], at::kLong), {static_cast<int64_t>(p)}, &*cache);
      EXPECT_THAT(hidden, IsOk());
      if (p + 1 < prompts[i].size()) continue;
      const int64_t predicted = model.Logits(*hidden)->reshape({-1}).argmax().item<int64_t>();
      agree += predicted == sequence[p + 1];
      ++total;
    }
  }
  return static_cast<double>(agree) / static_cast<double>(total);
}

double FreeRunningAgreement(const std::vector<std::vector<int>>& output, const std::vector<std::vector<int>>& reference) {
  int64_t agree = 0, total = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    for (size_t t = 0; t < reference[i].size(); ++t) agree += t < output[i].size() && output[i][t] == reference[i][t];
    total += static_cast<int64_t>(reference[i].size());
  }
  return static_cast<double>(agree) / static_cast<double>(total);
}

// Loads `format`'s model; compares it with the f32 figures and prints the line the docs quote.
void CheckFormat(const char* model_name, WeightFormat format,
                 const std::function<std::unique_ptr<DecoderModel>(WeightFormat)>& load,
                 const std::vector<std::vector<int>>& prompts, const std::vector<std::vector<int>>& held_out,
                 bool bound_free_running) {
  c10::InferenceMode inference;
  const std::unique_ptr<DecoderModel> f32 = load(WeightFormat::kF32);
  const std::unique_ptr<DecoderModel> model = load(format);
  ASSERT_NE(f32, nullptr);
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(model->serving_format(), format);
  const std::vector<std::vector<int>> reference = GreedyContinuations(*f32, prompts);
  ASSERT_EQ(reference.size(), prompts.size());
  QualityFigures figures;
  figures.replay_agreement = ReplayAgreement(*model, prompts, reference);
  figures.free_running_agreement = FreeRunningAgreement(GreedyContinuations(*model, prompts), reference);
  const double f32_loss = MeanLoss(*f32, held_out);
  figures.loss = MeanLoss(*model, held_out);
  const double rise = (figures.loss - f32_loss) / f32_loss;
  const double allowed = format == WeightFormat::kInt8 ? 0.01 : 0.002;
  std::printf("%s %-4s: greedy agreement with f32 %.1f%% replayed, %.1f%% free-running (%zu prompts x %d tokens); "
              "held-out loss %.4f vs f32 %.4f (%+.3f%%, allowed +%.1f%%); weights read per token %ld vs %ld bytes\n",
              model_name, std::string(WeightFormatName(format)).c_str(), 100 * figures.replay_agreement,
              100 * figures.free_running_agreement, prompts.size(), kContinuation, figures.loss, f32_loss, 100 * rise,
              100 * allowed, static_cast<long>(model->WeightBytesPerToken()), static_cast<long>(f32->WeightBytesPerToken()));
  EXPECT_GE(figures.replay_agreement, 0.95);
  if (bound_free_running) EXPECT_GE(figures.free_running_agreement, 0.95);
  EXPECT_LE(rise, allowed);
  EXPECT_LT(model->WeightBytesPerToken(), f32->WeightBytesPerToken());
}

ModelConfig DemoSizedConfig() {
  ModelConfig config;
  config.hidden_size = 128;
  config.intermediate_size = 344;
  config.num_hidden_layers = 4;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.vocab_size = 1024;
  config.max_position_embeddings = 256;
  config.initializer_range = 0.1;
  return config;
}

std::vector<std::vector<int>> RandomTexts(uint64_t seed, int count, int length, int vocab) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::vector<int>> texts;
  for (int i = 0; i < count; ++i) {
    const at::Tensor ids = at::randint(1, vocab, {length}, generator, at::kLong);
    texts.emplace_back(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + length);
  }
  return texts;
}

class ServingWeightsTest : public ::testing::TestWithParam<WeightFormat> {};

TEST_P(ServingWeightsTest, DemoSizedModelAgreesWithF32) {
  const auto load = [](WeightFormat format) {
    std::unique_ptr<DecoderModel> model = ::promptintern::testing::MakeRandomModel(7, DemoSizedConfig());
    EXPECT_THAT(model->PackForServing({format}), IsOk());
    return model;
  };
  CheckFormat("demo-sized", GetParam(), load, RandomTexts(1, 6, 8, 1024), RandomTexts(2, 4, 96, 1024),
              /*bound_free_running=*/false);
}

TEST_P(ServingWeightsTest, Stories260KAgreesWithF32) {
  const std::string dir = ::promptintern::testing::Stories260KDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  auto tokenizer = Tokenizer::LoadFromDirectory(dir);
  ASSERT_THAT(tokenizer, IsOk());
  const auto encode = [&](const std::vector<std::string>& texts) {
    std::vector<std::vector<int>> ids;
    for (const std::string& text : texts) ids.push_back(*(*tokenizer)->EncodePrompt(text));
    return ids;
  };
  const auto prompts = encode({"Once upon a time", "The little dog", "Lily wanted to", "One day, a boy named Tom",
                               "The sun was shining and"});
  const auto held_out = encode(
      {"Once upon a time, there was a little girl named Mia. She loved to play in the park with her red ball. One "
       "day, the ball rolled into the pond and Mia was sad.",
       "Tom had a big box of toys. He wanted to share them with his friend Sam, so he took the box to Sam's house. "
       "They played all day and had lots of fun.",
       "The cat sat on the mat and looked at the bird. The bird sang a happy song. The cat smiled and went to sleep "
       "in the warm sun."});
  const auto load = [&](WeightFormat format) {
    auto model = LoadModelForServing(dir, format);
    EXPECT_THAT(model, IsOk());
    return model.ok() ? std::move(model).value() : nullptr;
  };
  CheckFormat("stories260K", GetParam(), load, prompts, held_out, /*bound_free_running=*/true);
}

INSTANTIATE_TEST_SUITE_P(Formats, ServingWeightsTest, ::testing::Values(WeightFormat::kBF16, WeightFormat::kInt8),
                         [](const ::testing::TestParamInfo<WeightFormat>& info) {
                           return std::string(WeightFormatName(info.param));
                         });

// The serving form computes what the plain model does: f32 packing (fused, no rounding) matches
// the unpacked model's logits, at decode (one row) and prefill (many rows).
TEST(ServingWeightsTest, F32ServingFormMatchesThePlainModel) {
  c10::InferenceMode inference;
  const auto plain = ::promptintern::testing::MakeRandomModel(3, DemoSizedConfig());
  auto packed = ::promptintern::testing::MakeRandomModel(3, DemoSizedConfig());
  ASSERT_THAT(packed->PackForServing({WeightFormat::kF32}), IsOk());
  EXPECT_THAT(packed->PackForServing({WeightFormat::kF32}), StatusIs(absl::StatusCode::kFailedPrecondition));
  const at::Tensor ids = at::randint(0, 1024, {2, 24}, at::kLong);
  const at::Tensor expected = *plain->Logits(*plain->Forward(ids, {0, 0}, nullptr));
  EXPECT_LT((*packed->Logits(*packed->Forward(ids, {0, 0}, nullptr)) - expected).abs().max().item<double>(), 1e-4);
  auto cache = packed->AllocateCache(1, 24);
  ASSERT_THAT(cache, IsOk());
  for (int64_t p = 0; p < 24; ++p) {
    const at::Tensor step = *packed->Logits(*packed->Forward(ids.narrow(0, 0, 1).narrow(1, p, 1), {p}, &*cache));
    EXPECT_LT((step.reshape({-1}) - expected[0][p]).abs().max().item<double>(), 1e-4) << p;
  }
}

// Bytes of storage behind the model's named tensors, each storage counted once.
int64_t TensorStorageBytes(const DecoderModel& model) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  for (const auto& [name, tensor] : model.NamedWeights()) {
    if (seen.insert(tensor.storage().data()).second) bytes += static_cast<int64_t>(tensor.storage().nbytes());
  }
  return bytes;
}

// After ReleaseUnpackedWeights the model serves the same tokens from its packed forms alone, the
// projection tensors keep their shapes but no longer their values' memory, and saving or training
// it is refused instead of writing or training zeros.
TEST(ServingWeightsTest, ReleasingTheUnpackedWeightsServesTheSameTokensFromThePackedFormsAlone) {
  c10::InferenceMode inference;
  ModelConfig config = DemoSizedConfig();
  config.tie_word_embeddings = false;  // the LM head is released too
  auto model = ::promptintern::testing::MakeRandomModel(5, config);
  EXPECT_THAT(model->ReleaseUnpackedWeights(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(model->PackForServing({WeightFormat::kInt8}), IsOk());
  const std::vector<std::vector<int>> prompts = {{5, 17, 300, 41, 999, 8, 2}, {640, 3, 77}, {12, 12, 512, 90, 1000}};
  const std::vector<std::vector<int>> before = GreedyContinuations(*model, prompts);
  const int64_t bytes_before = TensorStorageBytes(*model);
  const std::vector<int64_t> q_shape = model->layers()[0].q_proj.weight.sizes().vec();

  ASSERT_THAT(model->ReleaseUnpackedWeights(), IsOk());
  EXPECT_TRUE(model->weights_released());
  EXPECT_EQ(GreedyContinuations(*model, prompts), before);
  EXPECT_EQ(model->layers()[0].q_proj.weight.sizes().vec(), q_shape);
  // What is left: the embedding and the norms (the float32 projections and head were the rest).
  const int64_t embedding_bytes = config.vocab_size * config.hidden_size * 4;
  const int64_t bytes_after = TensorStorageBytes(*model);
  EXPECT_LT(bytes_after, embedding_bytes + 64 * 1024) << "before: " << bytes_before;
  EXPECT_GT(bytes_before, 4 * bytes_after);

  EXPECT_THAT(SaveModel(*model, nullptr, ::promptintern::testing::MakeTempDir("released"), {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(ModelTrainer::Create(model.get(), OptimizerConfig{}, /*lora_only=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace promptintern
