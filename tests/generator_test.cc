#include "core/generate/generator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "core/checkpoint/checkpoint.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::Stories260KDir;

GenerationRequest Greedy(std::vector<int> prompt, int max_new_tokens) {
  GenerationRequest request;
  request.prompt_ids = std::move(prompt);
  request.max_new_tokens = max_new_tokens;
  request.stop_at_eos = false;
  return request;
}

TEST(GeneratorTest, BatchedPromptsOfDifferentLengthsMatchGeneratingEachAlone) {
  auto model = MakeRandomModel(5);
  ASSERT_NE(model, nullptr);
  std::vector<GenerationRequest> requests = {Greedy({1, 5, 9}, 12), Greedy({1, 40, 41, 42, 43, 44, 45, 46, 47}, 7),
                                             Greedy({1}, 15), Greedy({1, 2, 3, 4, 5}, 0)};
  requests[2].sampling = {0.9, 10, 0.95, 1234};  // a sampled row too: its stream is its own
  auto batched = Generate(*model, nullptr, requests);
  ASSERT_TRUE(batched.ok()) << batched.status();
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = Generate(*model, nullptr, {requests[i]});
    ASSERT_TRUE(alone.ok()) << alone.status();
    EXPECT_EQ((*batched)[i].token_ids, alone->front().token_ids) << "request " << i;
    EXPECT_EQ(static_cast<int>((*batched)[i].token_ids.size()), requests[i].max_new_tokens);
  }
}

TEST(GeneratorTest, GreedyTokensFollowTheArgmaxOfAFullForwardPass) {
  auto model = MakeRandomModel(9);
  ASSERT_NE(model, nullptr);
  auto result = Generate(*model, nullptr, {Greedy({1, 7, 3}, 10)});
  ASSERT_TRUE(result.ok());
  std::vector<int64_t> sequence = {1, 7, 3};
  for (int token : result->front().token_ids) {
    c10::InferenceMode guard;
    const at::Tensor input = at::tensor(sequence, at::kLong).view({1, -1});
    auto hidden = model->Forward(input, {0}, nullptr);
    ASSERT_TRUE(hidden.ok());
    const at::Tensor logits = *model->Logits(*hidden);
    EXPECT_EQ(logits[0][-1].argmax().item<int64_t>(), token);
    sequence.push_back(token);
  }
}

TEST(GeneratorTest, SamplingIsReproducibleBySeedAndTopKOneIsGreedy) {
  auto model = MakeRandomModel(2);
  ASSERT_NE(model, nullptr);
  GenerationRequest sampled = Greedy({1, 3}, 20);
  sampled.sampling = {1.0, 0, 1.0, 42};
  auto first = Generate(*model, nullptr, {sampled});
  auto second = Generate(*model, nullptr, {sampled});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->front().token_ids, second->front().token_ids);

  sampled.sampling.seed = 43;
  auto other_seed = Generate(*model, nullptr, {sampled});
  ASSERT_TRUE(other_seed.ok());
  EXPECT_NE(first->front().token_ids, other_seed->front().token_ids);

  GenerationRequest top_one = Greedy({1, 3}, 20);
  top_one.sampling = {1.5, 1, 1.0, 7};
  auto greedy = Generate(*model, nullptr, {Greedy({1, 3}, 20)});
  auto top_k_one = Generate(*model, nullptr, {top_one});
  ASSERT_TRUE(greedy.ok() && top_k_one.ok());
  EXPECT_EQ(greedy->front().token_ids, top_k_one->front().token_ids);
}

TEST(SamplerTest, TopPKeepsOnlyTheNucleus) {
  // Probabilities ~ 0.6, 0.3, 0.1 (logits are their logs): top_p 0.5 always picks token 0,
  // top_p 0.8 never picks token 2.
  const float logits[3] = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler nucleus_small({1.0, 0, 0.5, 1});
  Sampler nucleus_large({1.0, 0, 0.8, 1});
  int picked_one = 0;
  for (int i = 0; i < 2000; ++i) {
    EXPECT_EQ(nucleus_small.Sample(logits, 3), 0);
    const int token = nucleus_large.Sample(logits, 3);
    EXPECT_NE(token, 2);
    picked_one += token == 1;
  }
  // Renormalised over {0, 1}: P(1) = 1/3.
  EXPECT_NEAR(picked_one / 2000.0, 1.0 / 3.0, 0.05);
}

TEST(SamplerTest, RejectsOutOfRangeParameters) {
  EXPECT_FALSE((SamplingParams{-1.0, 0, 1.0, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.0, -1, 1.0, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.0, 0, 0.0, 0}).Validate().ok());
  EXPECT_FALSE((SamplingParams{1.0, 0, 1.5, 0}).Validate().ok());
  EXPECT_TRUE((SamplingParams{0.7, 40, 0.9, 0}).Validate().ok());
}

TEST(GeneratorTest, RejectsBadRequests) {
  auto model = MakeRandomModel(2);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(Generate(*model, nullptr, {Greedy({}, 3)}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Generate(*model, nullptr, {Greedy({1, 2}, 127)}).status().code(), absl::StatusCode::kOutOfRange);
  GenerationRequest needs_tokenizer = Greedy({1}, 3);
  needs_tokenizer.stop_strings = {"x"};
  EXPECT_EQ(Generate(*model, nullptr, {needs_tokenizer}).status().code(), absl::StatusCode::kInvalidArgument);
}

class Stories260KTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = Stories260KDir();
    if (dir_.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent; skipping the pretrained-model fixture";
    auto model = LoadModel(dir_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(model).value();
    auto tokenizer = Tokenizer::LoadFromDirectory(dir_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(tokenizer).value();
  }
  std::string dir_;
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(Stories260KTest, GreedyFromBosReproducesTheReferenceText) {
  auto result = Generate(*model_, tokenizer_.get(), {Greedy({1}, 200)});
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<int> first_ids(result->front().token_ids.begin(), result->front().token_ids.begin() + 10);
  EXPECT_EQ(first_ids, (std::vector<int>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298}));
  auto expected = ReadFile(JoinPath(dir_, "expected_greedy_200.txt"));
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(result->front().text + "\n", *expected);
}

TEST_F(Stories260KTest, StopStringCutsTheTextAndEndsGeneration) {
  GenerationRequest request = Greedy({1}, 200);
  request.stop_strings = {"Lily"};
  auto result = Generate(*model_, tokenizer_.get(), {request});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->front().finish_reason, FinishReason::kStop);
  EXPECT_EQ(result->front().text, "Once upon a time, there was a little girl named ");
  EXPECT_LT(result->front().token_ids.size(), 20u);
}

TEST_F(Stories260KTest, BatchedPromptsMatchAloneOnThePretrainedModel) {
  std::vector<GenerationRequest> requests;
  for (const char* prompt : {"Once upon a time", "The cat sat on the", "Tom"}) {
    auto ids = tokenizer_->Encode(prompt);
    ASSERT_TRUE(ids.ok());
    std::vector<int> with_bos = {1};
    with_bos.insert(with_bos.end(), ids->begin(), ids->end());
    requests.push_back(Greedy(with_bos, 40));
  }
  auto batched = Generate(*model_, tokenizer_.get(), requests);
  ASSERT_TRUE(batched.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = Generate(*model_, tokenizer_.get(), {requests[i]});
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ((*batched)[i].token_ids, alone->front().token_ids);
    EXPECT_EQ((*batched)[i].text, alone->front().text);
  }
}

TEST_F(Stories260KTest, CommandLineGeneratePrintsExactlyTheReferenceText) {
  const std::string output = JoinPath(::promptintern::testing::MakeTempDir("cli_generate"), "out.txt");
  const std::string command = ::promptintern::testing::BinaryDir() + "/promptintern generate --model " + dir_ +
                              " --max-tokens 200 --temperature 0 > " + output;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_EQ(*ReadFile(output), *ReadFile(JoinPath(dir_, "expected_greedy_200.txt")));
}

}  // namespace
}  // namespace promptintern
