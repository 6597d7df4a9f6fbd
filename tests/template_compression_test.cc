#include "core/compress/template_compression.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/compress/self_information.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/checkpoint/checkpoint.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

constexpr char kTemplate[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "big red ball. One day, she saw a dog and said hello.";

class TemplateCompressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = ::promptintern::testing::Stories260KDir();
    if (dir.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
    model_ = std::move(LoadModel(dir)).value();
    tokenizer_ = std::move(Tokenizer::LoadFromDirectory(dir)).value();
  }
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(TemplateCompressionTest, MeetsTheRatioWithinOneTokenAndKeepsOrder) {
  auto compressor = MakeTemplateCompressor("self_information", 1, ModelSurprisal(*model_, tokenizer_->prompt_prefix()));
  ASSERT_THAT(compressor, IsOk());
  const std::vector<int> ids = *tokenizer_->Encode(kTemplate);
  for (double ratio : {1.0, 0.8, 0.6, 0.45, 0.3, 0.1}) {
    auto kept = (*compressor)->Compress(ids, ratio);
    ASSERT_THAT(kept, IsOk());
    EXPECT_LE(std::abs(static_cast<double>(kept->size()) - ratio * ids.size()), 1.0) << ratio;
    // Kept tokens are a subsequence of the original, in order.
    size_t cursor = 0;
    for (int id : *kept) {
      while (cursor < ids.size() && ids[cursor] != id) ++cursor;
      ASSERT_LT(cursor, ids.size()) << "token order changed at ratio " << ratio;
      ++cursor;
    }
  }
}

TEST_F(TemplateCompressionTest, DropsThePredictableTokensFirst) {
  const std::vector<int> ids = *tokenizer_->Encode(kTemplate);
  auto surprisal = TokenSurprisal(*model_, tokenizer_->prompt_prefix(), ids);
  ASSERT_THAT(surprisal, IsOk());
  ASSERT_EQ(surprisal->size(), ids.size());
  auto compressor = MakeTemplateCompressor("self_information", 1, ModelSurprisal(*model_, tokenizer_->prompt_prefix()));
  auto kept = (*compressor)->Compress(ids, 0.5);
  ASSERT_THAT(kept, IsOk());
  // The mean surprisal of what is kept exceeds that of the whole text.
  double all = 0;
  for (float s : *surprisal) all += s;
  auto kept_text = CompressTemplate(**compressor, *tokenizer_, kTemplate, 0.5);
  ASSERT_THAT(kept_text, IsOk());
  auto kept_surprisal = TokenSurprisal(*model_, tokenizer_->prompt_prefix(), *kept);
  ASSERT_THAT(kept_surprisal, IsOk());
  // Scored in their original context the kept tokens are the surprising ones.
  double kept_sum = 0;
  size_t cursor = 0;
  for (int id : *kept) {
    while (ids[cursor] != id) ++cursor;
    kept_sum += (*surprisal)[cursor++];
  }
  EXPECT_GT(kept_sum / kept->size(), all / ids.size());
  EXPECT_EQ(kept_text->kept_tokens, static_cast<int64_t>(kept->size()));
  EXPECT_LT(kept_text->text.size(), std::string(kTemplate).size());
}

TEST_F(TemplateCompressionTest, RatioZeroRemovesTheTemplateForEveryMethod) {
  for (const char* method : {"none", "random", "self_information"}) {
    auto compressor = MakeTemplateCompressor(method, 1, ModelSurprisal(*model_, tokenizer_->prompt_prefix()));
    ASSERT_THAT(compressor, IsOk());
    auto result = CompressTemplate(**compressor, *tokenizer_, kTemplate, 0.0);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->text, "");
  }
  EXPECT_FALSE(MakeTemplateCompressor("llmlingua9", 1, nullptr).ok());
}

TEST(SurprisalTest, LongSequencesAreScoredInWindows) {
  ModelConfig config = ::promptintern::testing::TinyConfig();
  config.max_position_embeddings = 16;
  auto model = ::promptintern::testing::MakeRandomModel(3, config);
  std::vector<int> ids(40, 7);
  auto scores = TokenSurprisal(*model, {1}, ids);
  ASSERT_THAT(scores, IsOk());
  EXPECT_EQ(scores->size(), 40u);
  auto unprefixed = TokenSurprisal(*model, {}, ids);
  ASSERT_THAT(unprefixed, IsOk());
  ASSERT_EQ(unprefixed->size(), 40u);
  // Windows of 16 tokens, each starting without context.
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(std::isinf((*unprefixed)[i]), i % 16 == 0) << i;
}

// Each score is -log p(token | prefix, earlier tokens) from one forward pass over the whole input;
// without a prefix (Qwen has no BOS) the first token has no context and is scored +infinity.
TEST(SurprisalTest, ScoresEachTokenInTheContextOfThePrefix) {
  auto model = ::promptintern::testing::MakeRandomModel(4);
  const std::vector<int> ids = {9, 14, 3, 27, 27, 8};
  for (const std::vector<int>& prefix : {std::vector<int>{}, std::vector<int>{1}, std::vector<int>{1, 5}}) {
    auto scores = TokenSurprisal(*model, prefix, ids);
    ASSERT_THAT(scores, IsOk());
    ASSERT_EQ(scores->size(), ids.size());
    std::vector<int64_t> input(prefix.begin(), prefix.end());
    input.insert(input.end(), ids.begin(), ids.end());
    c10::InferenceMode guard;
    const at::Tensor tokens = at::tensor(input, at::kLong).view({1, -1});
    const at::Tensor log_probs = at::log_softmax(*model->Logits(*model->Forward(tokens, {0}, nullptr)), -1)[0];
    for (size_t i = 0; i < ids.size(); ++i) {
      const int64_t position = static_cast<int64_t>(prefix.size() + i);
      if (position == 0) {
        EXPECT_TRUE(std::isinf((*scores)[i]) && (*scores)[i] > 0);
        continue;
      }
      EXPECT_NEAR((*scores)[i], -log_probs[position - 1][ids[i]].item<double>(), 1e-5) << i;
    }
  }
}

}  // namespace
}  // namespace promptintern
