// The serving engine (core/serve): paged attention against the dense forward, prefix caching,
// chunked prefill mixed with decode, preemption, the bounded output path, queueing and errors,
// sampling, and the pretrained stories260K fixture through the engine and the CLI.
#include "core/serve/engine.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <optional>
#include <thread>

#include "core/checkpoint/checkpoint.h"
#include "core/eval/inference_eval.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/serve/output_processor.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::SaveRandomAdapter;
using ::promptintern::testing::Stories260KDir;
using ::promptintern::testing::TinyConfig;

EngineRequest Greedy(std::vector<int> prompt, int max_new_tokens) {
  EngineRequest request;
  request.prompt_ids = std::move(prompt);
  request.max_new_tokens = max_new_tokens;
  request.stop_at_eos = false;
  return request;
}

std::vector<int> TokensAlone(const DecoderModel& model, const EngineRequest& request) {
  auto result = GenerateOffline(model, {request}, {});
  return result.ok() ? result->front().token_ids : std::vector<int>{-1};
}

std::vector<int> RandomIds(int64_t count, int64_t vocab, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor ids = at::randint(1, vocab, {count}, generator, at::kLong);
  return std::vector<int>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + count);
}

// Logits of every position of `ids` from one dense forward pass.
at::Tensor DenseLogits(const DecoderModel& model, const std::vector<int>& ids) {
  const at::Tensor tokens = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).view({1, -1});
  return (*model.Logits(*model.Forward(tokens, {0}, nullptr)))[0];
}

// --- Paged attention ---------------------------------------------------------------------------

// A mixed step (a decode, the second chunk of a prefill whose first chunk is cached, a whole
// prefill) through the paged cache gives the logits of the dense forward, for any block size.
void ExpectPagedMatchesDense(const DecoderModel& model, int64_t block_size) {
  c10::InferenceMode guard;
  const int64_t vocab = model.config().vocab_size;
  const std::vector<int> a = RandomIds(11, vocab, 1);  // 10 cached, then 1 decode token
  const std::vector<int> b = RandomIds(13, vocab, 2);  // 5 cached, then a chunk of 8
  const std::vector<int> c = RandomIds(9, vocab, 3);   // a whole prefill
  auto cache = model.AllocatePagedCache(64, block_size);
  ASSERT_THAT(cache, IsOk());
  // Blocks handed out in a scrambled order, so the tables are not the identity.
  std::vector<int32_t> free_blocks;
  for (int32_t i = 63; i >= 0; i -= 2) free_blocks.push_back(i);
  for (int32_t i = 62; i >= 0; i -= 2) free_blocks.push_back(i);
  auto table = [&](int64_t tokens) {
    std::vector<int32_t> blocks;
    for (int64_t i = 0; i < (tokens + block_size - 1) / block_size; ++i) {
      blocks.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    return blocks;
  };
  const std::vector<int32_t> table_a = table(11), table_b = table(13), table_c = table(9);

  PagedBatch first;
  first.token_ids.insert(first.token_ids.end(), a.begin(), a.begin() + 10);
  first.token_ids.insert(first.token_ids.end(), b.begin(), b.begin() + 5);
  first.sequences = {{0, 10, table_a}, {0, 5, table_b}};
  auto first_hidden = model.ForwardPaged(first, &*cache);
  ASSERT_THAT(first_hidden, IsOk());

  PagedBatch second;
  second.token_ids.push_back(a[10]);
  second.token_ids.insert(second.token_ids.end(), b.begin() + 5, b.end());
  second.token_ids.insert(second.token_ids.end(), c.begin(), c.end());
  second.sequences = {{10, 1, table_a}, {5, 8, table_b}, {0, 9, table_c}};
  auto hidden = model.ForwardPaged(second, &*cache);
  ASSERT_THAT(hidden, IsOk());
  const at::Tensor logits = *model.Logits(*hidden);
  const at::Tensor first_logits = *model.Logits(*first_hidden);

  const double tolerance = 1e-4;
  EXPECT_LT((first_logits.narrow(0, 0, 10) - DenseLogits(model, a).narrow(0, 0, 10)).abs().max().item<double>(),
            tolerance);
  EXPECT_LT((logits[0] - DenseLogits(model, a)[10]).abs().max().item<double>(), tolerance) << "decode";
  EXPECT_LT((logits.narrow(0, 1, 8) - DenseLogits(model, b).narrow(0, 5, 8)).abs().max().item<double>(), tolerance)
      << "chunk after a cached prefix";
  EXPECT_LT((logits.narrow(0, 9, 9) - DenseLogits(model, c)).abs().max().item<double>(), tolerance) << "prefill";
}

TEST(PagedAttentionTest, MixedBatchMatchesTheDenseForwardForAnyBlockSize) {
  auto model = MakeRandomModel(21);
  ASSERT_NE(model, nullptr);
  for (int64_t block_size : {1, 3, 4, 16}) {
    SCOPED_TRACE(block_size);
    ExpectPagedMatchesDense(*model, block_size);
  }
}

// Decode rows of very different lengths in one step (each attends over its own positions only,
// read through its own block table): each gives the dense forward's logits.
TEST(PagedAttentionTest, DecodesOfVeryDifferentLengthsInOneStepMatchTheDenseForward) {
  c10::InferenceMode guard;
  auto model = MakeRandomModel(22);
  ASSERT_NE(model, nullptr);
  const int64_t vocab = model->config().vocab_size;
  for (int64_t block_size : {1, 4}) {
    SCOPED_TRACE(block_size);
    auto cache = model->AllocatePagedCache(256, block_size);
    ASSERT_THAT(cache, IsOk());
    int32_t next_block = 0;
    std::vector<std::vector<int>> prompts;
    std::vector<std::vector<int32_t>> tables;
    PagedBatch prefill;
    for (int64_t length : {2, 3, 9, 40, 70}) {
      prompts.push_back(RandomIds(length, vocab, 100 + static_cast<uint64_t>(length)));
      std::vector<int32_t> table;
      for (int64_t i = 0; i < (length + block_size - 1) / block_size; ++i) table.push_back(next_block++);
      tables.push_back(table);
      prefill.token_ids.insert(prefill.token_ids.end(), prompts.back().begin(), prompts.back().end() - 1);
      prefill.sequences.push_back({0, length - 1, table});
    }
    ASSERT_THAT(model->ForwardPaged(prefill, &*cache), IsOk());
    PagedBatch decode;
    for (size_t i = 0; i < prompts.size(); ++i) {
      decode.token_ids.push_back(prompts[i].back());
      decode.sequences.push_back({static_cast<int64_t>(prompts[i].size()) - 1, 1, tables[i]});
    }
    auto hidden = model->ForwardPaged(decode, &*cache);
    ASSERT_THAT(hidden, IsOk());
    const at::Tensor logits = *model->Logits(*hidden);
    for (size_t i = 0; i < prompts.size(); ++i) {
      const at::Tensor dense = DenseLogits(*model, prompts[i])[static_cast<int64_t>(prompts[i].size()) - 1];
      EXPECT_LT((logits[static_cast<int64_t>(i)] - dense).abs().max().item<double>(), 1e-4)
          << "the decode of a sequence of " << prompts[i].size();
    }
  }
}

TEST(PagedAttentionTest, SlidingWindowsAndEveryFamilyMatchTheDenseForward) {
  for (const char* family : {"mistral", "gemma3", "qwen3"}) {
    const std::string directory =
        JoinPath(::promptintern::testing::SharedDir(), std::string("models/arch-fixtures/") + family);
    if (!PathExists(JoinPath(directory, "config.json"))) GTEST_SKIP() << "../shared/models/arch-fixtures is absent";
    // f32 serving: the bf16 kernels round activations to bfloat16 on rows they take (decode) and
    // not on the rows BLAS takes (long prefill), a difference of bf16 precision, not of attention.
    auto model = LoadModelForServing(directory, WeightFormat::kF32);
    ASSERT_THAT(model, IsOk());
    SCOPED_TRACE(family);
    ExpectPagedMatchesDense(**model, 3);
  }
}

TEST(PagedAttentionTest, BadBatchesAreRefused) {
  auto model = MakeRandomModel(22);
  auto cache = model->AllocatePagedCache(4, 4);
  ASSERT_THAT(cache, IsOk());
  PagedBatch too_long;
  too_long.token_ids.assign(20, 1);
  too_long.sequences = {{0, 20, {0, 1, 2, 3}}};
  EXPECT_THAT(model->ForwardPaged(too_long, &*cache), StatusIs(absl::StatusCode::kInvalidArgument));
  PagedBatch bad_block;
  bad_block.token_ids = {1, 2};
  bad_block.sequences = {{0, 2, {7}}};
  EXPECT_THAT(model->ForwardPaged(bad_block, &*cache), StatusIs(absl::StatusCode::kInvalidArgument));
  PagedBatch bad_token;
  bad_token.token_ids = {1, 999};
  bad_token.sequences = {{0, 2, {0}}};
  EXPECT_THAT(model->ForwardPaged(bad_token, &*cache), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- Scheduling: batching, chunked prefill, prefix cache, preemption ----------------------------

TEST(EngineTest, BatchedPromptsOfDifferentLengthsMatchGeneratingEachAlone) {
  auto model = MakeRandomModel(5);
  ASSERT_NE(model, nullptr);
  std::vector<EngineRequest> requests = {Greedy({1, 5, 9}, 12), Greedy({1, 40, 41, 42, 43, 44, 45, 46, 47}, 7),
                                         Greedy({1}, 15), Greedy({1, 2, 3, 4, 5}, 0)};
  requests[2].sampling = {0.9, 10, 0.95, 1234};  // a sampled row too: its stream is its own
  auto batched = GenerateOffline(*model, requests, {});
  ASSERT_THAT(batched, IsOk());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = GenerateOffline(*model, {requests[i]}, {});
    ASSERT_THAT(alone, IsOk());
    EXPECT_EQ((*batched)[i].token_ids, alone->front().token_ids) << "request " << i;
    EXPECT_EQ(static_cast<int>((*batched)[i].token_ids.size()), requests[i].max_new_tokens);
  }
}

TEST(EngineTest, GreedyTokensFollowTheArgmaxOfAFullForwardPass) {
  auto model = MakeRandomModel(9);
  ASSERT_NE(model, nullptr);
  auto result = GenerateOffline(*model, {Greedy({1, 7, 3}, 10)}, {});
  ASSERT_THAT(result, IsOk());
  std::vector<int> sequence = {1, 7, 3};
  for (int token : result->front().token_ids) {
    c10::InferenceMode guard;
    EXPECT_EQ(DenseLogits(*model, sequence)[-1].argmax().item<int64_t>(), token);
    sequence.push_back(token);
  }
}

TEST(EngineTest, EachTokensLogProbabilityIsTheLogSoftmaxOfAFullForwardPass) {
  auto model = MakeRandomModel(9);
  ASSERT_NE(model, nullptr);
  // Sampled at a temperature, so the tokens are not all argmaxes; the log-probability is still the
  // model's own, before temperature.
  EngineRequest request = Greedy({1, 7, 3}, 10);
  request.sampling = {0.8, 0, 1.0, 5};
  auto result = GenerateOffline(*model, {request}, {});
  ASSERT_THAT(result, IsOk());
  const std::vector<int>& tokens = result->front().token_ids;
  const std::vector<float>& logprobs = result->front().outcome.token_logprobs;
  ASSERT_EQ(logprobs.size(), tokens.size() + (result->front().outcome.finish_reason == FinishReason::kEos ? 1 : 0));
  std::vector<int> sequence = {1, 7, 3};
  for (size_t i = 0; i < tokens.size(); ++i) {
    c10::InferenceMode guard;
    const at::Tensor expected = torch::log_softmax(DenseLogits(*model, sequence)[-1], 0)[tokens[i]];
    EXPECT_NEAR(logprobs[i], expected.item<float>(), 1e-4) << "token " << i;
    EXPECT_LE(logprobs[i], 0.0f);
    sequence.push_back(tokens[i]);
  }
}

TEST(SamplerTest, LogProbabilityIsStableForLargeLogits) {
  // exp(1000) overflows a float; floats near 1000 are 6e-5 apart, hence the tolerance.
  const float logits[3] = {1000.0f, 1000.0f + std::log(3.0f), -1000.0f};
  EXPECT_NEAR(LogProbability(logits, 3, 0), std::log(0.25), 1e-4);
  EXPECT_NEAR(LogProbability(logits, 3, 1), std::log(0.75), 1e-4);
  EXPECT_LT(LogProbability(logits, 3, 2), -1000.0f);
}

TEST(EngineTest, LongPromptsArePrefilledInChunksBesideDecodingRequests) {
  auto model = MakeRandomModel(31);
  std::atomic<int> mixed_steps{0};
  EngineOptions options;
  options.max_step_tokens = 8;
  options.step_observer = [&](const EngineStepStats& step) {
    // A step with a decode token and a prefill chunk computes more tokens than it has sequences.
    if (step.batch_size >= 2 && step.tokens > step.batch_size) ++mixed_steps;
  };
  auto engine = Engine::Start(*model, options);
  ASSERT_THAT(engine, IsOk());
  const EngineRequest decoding = Greedy({1, 2, 3}, 100);
  const EngineRequest long_prompt = Greedy(RandomIds(60, 64, 4), 5);
  auto first = (*engine)->Submit(decoding);
  ASSERT_THAT(first, IsOk());
  std::vector<int> early;
  ASSERT_TRUE((*first)->Next(&early));  // decoding has started
  auto second = (*engine)->Submit(long_prompt);
  ASSERT_THAT(second, IsOk());
  auto long_output = CollectOutput(**second, {});
  auto decode_output = CollectOutput(**first, {});
  ASSERT_TRUE(long_output.ok() && decode_output.ok());
  decode_output->token_ids.insert(decode_output->token_ids.begin(), early.begin(), early.end());
  EXPECT_EQ(long_output->token_ids, TokensAlone(*model, long_prompt));
  EXPECT_EQ(decode_output->token_ids, TokensAlone(*model, decoding));
  EXPECT_GE(mixed_steps.load(), 2) << "the 60-token prompt takes 8 chunks of 8: they ride along with decodes";
}

TEST(EngineTest, CachedPrefixIsNotComputedAgainAndChangesNothing) {
  auto model = MakeRandomModel(33);
  const std::vector<int> shared_prefix = RandomIds(40, 64, 5);
  std::vector<int> first_prompt = shared_prefix;
  first_prompt.push_back(7);
  std::vector<int> second_prompt = shared_prefix;
  for (int id : {9, 10, 11}) second_prompt.push_back(id);

  EngineOptions cached_options;
  cached_options.block_size = 8;
  auto cached = Engine::Start(*model, cached_options);
  EngineOptions uncached_options = cached_options;
  uncached_options.prefix_caching = false;
  auto uncached = Engine::Start(*model, uncached_options);
  ASSERT_TRUE(cached.ok() && uncached.ok());

  auto warm = Generate(**cached, Greedy(first_prompt, 4), {});
  ASSERT_THAT(warm, IsOk());
  EXPECT_EQ(warm->outcome.cached_prompt_tokens, 0);
  EXPECT_EQ(warm->outcome.computed_prompt_tokens, 41);

  auto hit = Generate(**cached, Greedy(second_prompt, 12), {});
  auto miss = Generate(**uncached, Greedy(second_prompt, 12), {});
  ASSERT_TRUE(hit.ok() && miss.ok());
  // The 40 shared tokens fill five blocks of 8; all five are reused.
  EXPECT_EQ(hit->outcome.cached_prompt_tokens, 40);
  EXPECT_EQ(hit->outcome.computed_prompt_tokens, 43 - 40);
  EXPECT_EQ(miss->outcome.cached_prompt_tokens, 0);
  EXPECT_EQ(miss->outcome.computed_prompt_tokens, 43);
  EXPECT_EQ(hit->token_ids, miss->token_ids);
  EXPECT_GE((*cached)->stats().kv.prefix_hit_tokens, 40);

  // The same prompt again: everything but its last token comes from the cache.
  auto again = Generate(**cached, Greedy(second_prompt, 12), {});
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome.cached_prompt_tokens, 40);
  EXPECT_EQ(again->token_ids, miss->token_ids);
}

TEST(EngineTest, PreemptedRequestsProduceTheTokensTheyGetUnpreempted) {
  auto model = MakeRandomModel(35);
  EngineOptions options;
  options.block_size = 4;
  options.max_batch_size = 4;
  // 16 blocks of 4 tokens: four requests that each grow to 40 tokens cannot all stay resident.
  options.kv_cache_bytes = 16 * 4 * KvCacheBytesPerToken(model->config());
  auto engine = Engine::Start(*model, options);
  ASSERT_THAT(engine, IsOk());
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(Greedy(RandomIds(8, 64, 40 + i), 32));
  requests[3].sampling = {0.8, 0, 1.0, 99};  // a sampled one keeps its stream across recomputation
  auto outputs = GenerateAll(**engine, requests, {});
  ASSERT_THAT(outputs, IsOk());
  int preempted = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*outputs)[i].token_ids, TokensAlone(*model, requests[i])) << "request " << i;
    preempted += (*outputs)[i].outcome.preemptions;
  }
  EXPECT_GT(preempted, 0);
  EXPECT_EQ((*engine)->stats().preemptions, preempted);
}

TEST(EngineTest, BackgroundRequestsYieldTheirSlotAndNeverTakeALiveQueuePlace) {
  auto model = MakeRandomModel(36);
  EngineOptions options;
  options.max_batch_size = 1;
  options.max_waiting = 0;
  auto engine = Engine::Start(*model, options);
  ASSERT_THAT(engine, IsOk());
  // Long enough (120 steps) to be still decoding when the live request arrives.
  std::vector<EngineRequest> background(3, Greedy(RandomIds(6, 64, 7), 120));
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (EngineRequest& request : background) {
    request.background = true;
    auto stream = (*engine)->Submit(request);
    ASSERT_TRUE(stream.ok()) << "background work is outside max_waiting: " << stream.status();
    streams.push_back(*stream);
  }
  // The first background request is decoding once a token has come out.
  std::vector<int> first_tokens;
  ASSERT_TRUE(streams[0]->Next(&first_tokens));
  // The one slot and no queue are taken by background work, and a live request is still admitted:
  // it takes the running background request's slot.
  const EngineRequest live = Greedy(RandomIds(6, 64, 8), 5);
  auto answered = Generate(**engine, live, {});
  ASSERT_THAT(answered, IsOk());
  EXPECT_EQ(answered->outcome.preemptions, 0);
  EXPECT_EQ(answered->token_ids, TokensAlone(*model, live));
  for (size_t i = 0; i < streams.size(); ++i) {
    auto rest = CollectOutput(*streams[i], {});
    ASSERT_THAT(rest, IsOk());
    if (i == 0) {
      EXPECT_EQ(rest->outcome.preemptions, 1) << "the live request took its slot";
      rest->token_ids.insert(rest->token_ids.begin(), first_tokens.begin(), first_tokens.end());
    }
    EXPECT_EQ(rest->token_ids, TokensAlone(*model, background[i])) << "background request " << i;
  }
}

TEST(EngineTest, AConsumerThatNeverReadsIsCutOffWithoutDelayingTheOthers) {
  auto model = MakeRandomModel(37);
  auto engine = Engine::Start(*model, {});
  ASSERT_THAT(engine, IsOk());
  std::atomic<bool> abandoned{false};
  EngineRequest never_read = Greedy({1, 2}, 100);
  never_read.max_buffered_tokens = 4;
  never_read.on_abandoned = [&] { abandoned = true; };
  auto stuck = (*engine)->Submit(never_read);
  ASSERT_THAT(stuck, IsOk());
  for (int i = 0; i < 3; ++i) {
    const EngineRequest other = Greedy({1, 3 + i}, 60);
    auto output = Generate(**engine, other, {});
    ASSERT_THAT(output, IsOk());
    EXPECT_EQ(output->token_ids, TokensAlone(*model, other));
  }
  std::vector<int> tokens;
  while ((*stuck)->Next(&tokens)) {
  }
  EXPECT_TRUE(abandoned);
  EXPECT_THAT((*stuck)->outcome().status, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(tokens.size(), 4u);
}

// Requests on three adapters and on the base in one batch, each against the adapter attached as
// LoRA to its own unpacked copy; with `packed`, the base serves in that packed, fused form.
void ExpectAdapterBatchMatchesLora(std::optional<WeightFormat> packed) {
  constexpr uint64_t kBase = 41;
  auto base = MakeRandomModel(kBase);
  if (packed.has_value()) {
    ASSERT_THAT(base->PackForServing({*packed}), IsOk());
  }
  const std::vector<std::vector<std::string>> targets = {
      {"q_proj", "v_proj"}, {"gate_proj", "up_proj", "down_proj"}, {"q_proj", "k_proj", "v_proj", "o_proj", "down_proj"}};
  std::vector<std::shared_ptr<const LowRankAdapter>> adapters;
  std::vector<std::unique_ptr<DecoderModel>> attached;  // the same adapter on its own copy of the base
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::string directory = SaveRandomAdapter(*MakeRandomModel(kBase), 100 + i, targets[i]);
    auto adapter = ReadLoraAdapter(*base, directory, "adapter-" + std::to_string(i));
    ASSERT_THAT(adapter, IsOk());
    adapters.push_back(*adapter);
    attached.push_back(MakeRandomModel(kBase));
    ASSERT_THAT(LoadLoraAdapter(*attached.back(), directory), IsOk());
  }
  // Two requests per adapter and two on the base, interleaved in one batch, sharing a prefix.
  std::vector<EngineRequest> requests;
  std::vector<int> which;  // adapter index, -1 = base
  for (int round = 0; round < 2; ++round) {
    for (int a = -1; a < static_cast<int>(adapters.size()); ++a) {
      EngineRequest request = Greedy({1, 2, 3, 4, 5, 6, 7, 8, 9 + round, 20 + a}, 16);
      if (a >= 0) request.adapter = adapters[a];
      requests.push_back(request);
      which.push_back(a);
    }
  }
  EngineOptions options;
  options.max_batch_size = static_cast<int>(requests.size());
  options.block_size = 4;
  auto engine = Engine::Start(*base, options);
  ASSERT_THAT(engine, IsOk());
  auto mixed = GenerateAll(**engine, requests, {});
  ASSERT_THAT(mixed, IsOk());
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*mixed)[i].token_ids, TokensAlone(*base, requests[i]));
    // Alone on a model with the adapter attached: the engine applies it as LoRA does.
    EngineRequest plain = requests[i];
    plain.adapter = nullptr;
    const DecoderModel& reference = which[i] < 0 ? *base : *attached[which[i]];
    EXPECT_EQ((*mixed)[i].token_ids, TokensAlone(reference, plain));
  }
  // The adapters' answers differ from the base's: the test would not notice a dropped adapter otherwise.
  EXPECT_NE((*mixed)[0].token_ids, (*mixed)[1].token_ids);
}

TEST(EngineTest, ABatchMixingAdaptersAndTheBaseGivesEachRequestItsOwnTokens) {
  ExpectAdapterBatchMatchesLora(std::nullopt);
}

// The per-row adapters add to the fused q/k/v and gate/up outputs of the serving kernels.
TEST(EngineTest, AdaptersApplyOnTopOfThePackedFusedBase) { ExpectAdapterBatchMatchesLora(WeightFormat::kF32); }

TEST(EngineTest, AnAdapterOfAnotherShapeIsRefused) {
  auto base = MakeRandomModel(43);
  ModelConfig wider = TinyConfig();
  wider.intermediate_size = 96;
  auto other = MakeRandomModel(43, wider);
  LoraConfig config;
  config.target_modules = {"up_proj"};
  ASSERT_THAT(AttachLora(*other, config, 1), IsOk());
  const std::string directory = ::promptintern::testing::MakeTempDir("adapter_other_shape");
  ASSERT_THAT(SaveLoraAdapter(*other, config, "wider", directory), IsOk());
  auto refused = ReadLoraAdapter(*base, directory, "wider");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("does not match rank 8 and the base weight's shape"),
            std::string::npos)
      << refused.status();
}

TEST(EngineTest, SamplingIsReproducibleBySeedAndTopKOneIsGreedy) {
  auto model = MakeRandomModel(2);
  ASSERT_NE(model, nullptr);
  EngineRequest sampled = Greedy({1, 3}, 20);
  sampled.sampling = {1.0, 0, 1.0, 42};
  auto first = GenerateOffline(*model, {sampled}, {});
  auto second = GenerateOffline(*model, {sampled}, {});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->front().token_ids, second->front().token_ids);

  sampled.sampling.seed = 43;
  auto other_seed = GenerateOffline(*model, {sampled}, {});
  ASSERT_THAT(other_seed, IsOk());
  EXPECT_NE(first->front().token_ids, other_seed->front().token_ids);

  EngineRequest top_one = Greedy({1, 3}, 20);
  top_one.sampling = {1.5, 1, 1.0, 7};
  auto greedy = GenerateOffline(*model, {Greedy({1, 3}, 20)}, {});
  auto top_k_one = GenerateOffline(*model, {top_one}, {});
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

TEST(EngineTest, RejectsBadRequests) {
  auto model = MakeRandomModel(2);
  ASSERT_NE(model, nullptr);
  EXPECT_THAT(GenerateOffline(*model, {Greedy({}, 3)}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GenerateOffline(*model, {Greedy({1, 2}, 127)}, {}), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(GenerateOffline(*model, {Greedy({1, 200}, 3)}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  OutputOptions needs_tokenizer;
  needs_tokenizer.stop_strings = {"x"};
  EXPECT_THAT(GenerateOffline(*model, {Greedy({1}, 3)}, needs_tokenizer), StatusIs(absl::StatusCode::kInvalidArgument));
  EngineOptions tiny_pool;
  tiny_pool.block_size = 4;
  tiny_pool.kv_cache_bytes = 2 * 4 * KvCacheBytesPerToken(model->config());
  auto engine = Engine::Start(*model, tiny_pool);
  ASSERT_THAT(engine, IsOk());
  EXPECT_THAT((*engine)->Submit(Greedy({1, 2, 3}, 6)), StatusIs(absl::StatusCode::kOutOfRange))
      << "9 tokens cannot fit 2 blocks of 4";
  EngineOptions no_block = tiny_pool;
  no_block.kv_cache_bytes = 10;
  EXPECT_THAT(Engine::Start(*model, no_block), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- The engine with a real tokenizer: text, streaming, stop strings, queueing ------------------

class EngineTextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::string> corpus;
    for (int i = 0; i < 100; ++i) {
      corpus.push_back("find . -name '*.log' -mtime -" + std::to_string(i % 9) + " | xargs grep -l error");
      corpus.push_back("Input: list files modified in the last " + std::to_string(i % 7) + " days\nOutput: ls -lt");
    }
    BpeTrainingOptions options;
    options.vocab_size = 400;
    tokenizer_ = std::move(TrainBpeTokenizer(corpus, options)).value().release();
    ModelConfig config = TinyConfig();
    config.vocab_size = tokenizer_->vocab_size();
    config.max_position_embeddings = 96;
    model_ = MakeRandomModel(17, config).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }
  static EngineRequest Request(const std::string& text, int max_new_tokens, uint64_t seed, double temperature) {
    EngineRequest request;
    request.prompt_ids = *tokenizer_->EncodePrompt(text);
    request.max_new_tokens = max_new_tokens;
    request.sampling = {temperature, 0, 1.0, seed};
    return request;
  }
  static OutputOptions Text() {
    OutputOptions options;
    options.tokenizer = tokenizer_;
    return options;
  }
  static DecoderModel* model_;
  static Tokenizer* tokenizer_;
};

DecoderModel* EngineTextTest::model_ = nullptr;
Tokenizer* EngineTextTest::tokenizer_ = nullptr;

TEST_F(EngineTextTest, ConcurrentRequestsGetTheTokensTheyWouldGetAlone) {
  EngineOptions options;
  options.max_batch_size = 3;  // fewer slots than requests: some join while others decode
  auto engine = Engine::Start(*model_, options);
  ASSERT_THAT(engine, IsOk());
  std::vector<EngineRequest> requests;
  const char* prompts[] = {"find", "list files modified", "Input: list", "xargs grep -l error | sort", "ls", "Output:"};
  for (int i = 0; i < 6; ++i) requests.push_back(Request(prompts[i], 5 + 4 * i, 100 + i, i % 2 == 0 ? 0.0 : 0.9));
  std::vector<absl::StatusOr<GenerationOutput>> results(requests.size(), absl::UnknownError("not run"));
  std::vector<std::thread> clients;
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back([&, i] { results[i] = Generate(**engine, requests[i], Text()); });
  }
  for (std::thread& client : clients) client.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_THAT(results[i], IsOk());
    EXPECT_EQ(results[i]->token_ids, TokensAlone(*model_, requests[i])) << "request " << i;
    EXPECT_GT(results[i]->outcome.total_seconds, 0);
  }
}

// The pipeline's evaluation and the service's requests are two callers of one engine: evaluating
// while serving changes neither the predictions nor the served answers (greedy), and both are
// counted by the same engine.
TEST_F(EngineTextTest, EvaluationAndServingShareOneEngineAndChangeNothingForEachOther) {
  std::vector<EvalItem> items;
  for (int i = 0; i < 6; ++i) {
    items.push_back({"Input: list files modified in the last " + std::to_string(i) + " days\nOutput:", "ls -lt"});
  }
  EvalOptions eval_options;
  eval_options.max_new_tokens = 10;
  std::vector<EngineRequest> served;
  for (int i = 0; i < 6; ++i) served.push_back(Request("find . -name '*.log' -mtime -" + std::to_string(i), 10, 0, 0.0));

  EngineOptions options;
  options.max_batch_size = 4;
  auto alone_engine = Engine::Start(*model_, options);
  ASSERT_THAT(alone_engine, IsOk());
  auto evaluated_alone = EvaluatePrompts(**alone_engine, *tokenizer_, items, eval_options, "query_only");
  ASSERT_THAT(evaluated_alone, IsOk());
  auto served_alone = GenerateAll(**alone_engine, served, Text());
  ASSERT_THAT(served_alone, IsOk());

  auto engine = Engine::Start(*model_, options);
  ASSERT_THAT(engine, IsOk());
  std::vector<std::string> texts(served.size());
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (size_t i = 0; i < served.size(); ++i) {
    clients.emplace_back([&, i] {
      for (int round = 0; round < 3; ++round) {
        auto output = Generate(**engine, served[i], Text());
        if (!output.ok() || (round > 0 && output->text != texts[i])) ++failures;
        if (output.ok()) texts[i] = output->text;
      }
    });
  }
  auto evaluated = EvaluatePrompts(**engine, *tokenizer_, items, eval_options, "query_only");
  for (std::thread& client : clients) client.join();
  ASSERT_THAT(evaluated, IsOk());
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(evaluated->predictions, evaluated_alone->predictions);
  EXPECT_DOUBLE_EQ(evaluated->exact_match, evaluated_alone->exact_match);
  EXPECT_DOUBLE_EQ(evaluated->mean_input_tokens, evaluated_alone->mean_input_tokens);
  for (size_t i = 0; i < served.size(); ++i) EXPECT_EQ(texts[i], (*served_alone)[i].text) << i;
}

TEST_F(EngineTextTest, StreamedPiecesAddUpToTheText) {
  auto engine = Engine::Start(*model_, {});
  ASSERT_THAT(engine, IsOk());
  EngineRequest request = Request("find . -name", 30, 5, 0.8);
  std::string streamed;
  int pieces = 0;
  OutputOptions options = Text();
  options.on_text = [&](const std::string& delta) {
    streamed += delta;
    ++pieces;
    return true;
  };
  auto result = Generate(**engine, request, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(streamed, result->text);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(result->outcome.inter_token_seconds.size() + 1,
            result->token_ids.size() + (result->outcome.finish_reason == FinishReason::kEos));
}

TEST_F(EngineTextTest, StopStringsEndTheRequestAndNeverStream) {
  auto engine = Engine::Start(*model_, {});
  ASSERT_THAT(engine, IsOk());
  EngineRequest probe = Request("ls", 20, 1, 0.0);
  auto free_run = Generate(**engine, probe, Text());
  ASSERT_THAT(free_run, IsOk());
  ASSERT_GE(free_run->text.size(), 4u);
  OutputOptions stopped = Text();
  stopped.stop_strings = {free_run->text.substr(2, 2)};
  std::string streamed;
  stopped.on_text = [&](const std::string& delta) {
    streamed += delta;
    return true;
  };
  auto result = Generate(**engine, probe, stopped);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->outcome.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result->text, free_run->text.substr(0, free_run->text.find(stopped.stop_strings[0])));
  EXPECT_EQ(streamed, result->text);
}

TEST_F(EngineTextTest, FullQueueCancellationAndDeadlinesAreReported) {
  EngineOptions options;
  options.max_batch_size = 1;
  options.max_waiting = 1;
  auto engine = Engine::Start(*model_, options);
  ASSERT_THAT(engine, IsOk());
  // The first request's cancellation check blocks the engine thread until released, so the
  // queue state below does not depend on timing.
  std::atomic<bool> release{false};
  std::atomic<bool> engine_blocked{false};
  EngineRequest slow = Request("find", 60, 1, 0.0);
  slow.cancelled = [&] {
    engine_blocked = true;
    while (!release) std::this_thread::yield();
    return true;
  };
  absl::StatusOr<GenerationOutput> slow_result = absl::UnknownError("");
  std::thread first([&] { slow_result = Generate(**engine, slow, Text()); });
  while (!engine_blocked) std::this_thread::yield();
  absl::StatusOr<GenerationOutput> queued_result = absl::UnknownError("");
  EngineRequest queued = Request("ls", 3, 1, 0.0);
  std::thread second([&] { queued_result = Generate(**engine, queued, Text()); });
  while ((*engine)->stats().waiting == 0) std::this_thread::yield();
  EXPECT_THAT(Generate(**engine, Request("ls", 3, 1, 0.0), Text()), StatusIs(absl::StatusCode::kResourceExhausted));
  release = true;
  first.join();
  second.join();
  EXPECT_THAT(slow_result, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(queued_result, IsOk());

  EngineRequest late = Request("ls", 3, 1, 0.0);
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_THAT(Generate(**engine, late, Text()), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(Generate(**engine, Request("ls", 200, 1, 0.0), Text()), StatusIs(absl::StatusCode::kOutOfRange));
  EngineRequest empty;
  EXPECT_THAT(Generate(**engine, empty, Text()), StatusIs(absl::StatusCode::kInvalidArgument));
  (*engine)->Drain();
  EXPECT_THAT(Generate(**engine, Request("ls", 3, 1, 0.0), Text()), StatusIs(absl::StatusCode::kUnavailable));
}

// --- The pretrained fixture --------------------------------------------------------------------

class Stories260KTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = Stories260KDir();
    if (dir_.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent; skipping the pretrained-model fixture";
    auto model = LoadModel(dir_);
    ASSERT_THAT(model, IsOk());
    model_ = std::move(model).value();
    auto tokenizer = Tokenizer::LoadFromDirectory(dir_);
    ASSERT_THAT(tokenizer, IsOk());
    tokenizer_ = std::move(tokenizer).value();
  }
  OutputOptions Text() const {
    OutputOptions options;
    options.tokenizer = tokenizer_.get();
    return options;
  }
  std::string dir_;
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(Stories260KTest, GreedyFromBosReproducesTheReferenceText) {
  auto result = GenerateOffline(*model_, {Greedy({1}, 200)}, Text());
  ASSERT_THAT(result, IsOk());
  const std::vector<int> first_ids(result->front().token_ids.begin(), result->front().token_ids.begin() + 10);
  EXPECT_EQ(first_ids, (std::vector<int>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298}));
  auto expected = ReadFile(JoinPath(dir_, "expected_greedy_200.txt"));
  ASSERT_THAT(expected, IsOk());
  EXPECT_EQ(result->front().text + "\n", *expected);
}

TEST_F(Stories260KTest, StopStringCutsTheTextAndEndsGeneration) {
  OutputOptions options = Text();
  options.stop_strings = {"Lily"};
  auto result = GenerateOffline(*model_, {Greedy({1}, 200)}, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->front().outcome.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result->front().text, "Once upon a time, there was a little girl named ");
  EXPECT_LT(result->front().token_ids.size(), 20u);
}

TEST_F(Stories260KTest, BatchedPromptsMatchAloneOnThePretrainedModel) {
  std::vector<EngineRequest> requests;
  for (const char* prompt : {"Once upon a time", "The cat sat on the", "Tom"}) {
    auto ids = tokenizer_->Encode(prompt);
    ASSERT_THAT(ids, IsOk());
    std::vector<int> with_bos = {1};
    with_bos.insert(with_bos.end(), ids->begin(), ids->end());
    requests.push_back(Greedy(with_bos, 40));
  }
  auto batched = GenerateOffline(*model_, requests, Text());
  ASSERT_THAT(batched, IsOk());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = GenerateOffline(*model_, {requests[i]}, Text());
    ASSERT_THAT(alone, IsOk());
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
