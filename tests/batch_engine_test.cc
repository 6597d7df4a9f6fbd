#include "core/serve/batch_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/generate/generator.h"
#include "core/model/decoder.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

class BatchEngineTest : public ::testing::Test {
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
    ModelConfig config = ::promptintern::testing::TinyConfig();
    config.vocab_size = tokenizer_->vocab_size();
    config.max_position_embeddings = 96;
    model_ = ::promptintern::testing::MakeRandomModel(17, config).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }
  static EngineRequest Request(const std::string& text, int max_new_tokens, uint64_t seed, double temperature) {
    EngineRequest request;
    request.prompt_ids = {tokenizer_->bos_id()};
    auto ids = tokenizer_->Encode(text);
    request.prompt_ids.insert(request.prompt_ids.end(), ids->begin(), ids->end());
    request.max_new_tokens = max_new_tokens;
    request.sampling = {temperature, 0, 1.0, seed};
    return request;
  }
  static std::vector<int> Alone(const EngineRequest& request) {
    GenerationRequest alone;
    alone.prompt_ids = request.prompt_ids;
    alone.max_new_tokens = request.max_new_tokens;
    alone.sampling = request.sampling;
    auto result = Generate(*model_, tokenizer_, {alone});
    return result.ok() ? result->front().token_ids : std::vector<int>{-1};
  }
  static DecoderModel* model_;
  static Tokenizer* tokenizer_;
};

DecoderModel* BatchEngineTest::model_ = nullptr;
Tokenizer* BatchEngineTest::tokenizer_ = nullptr;

TEST_F(BatchEngineTest, ConcurrentRequestsGetTheTokensTheyWouldGetAlone) {
  EngineOptions options;
  options.max_batch_size = 3;  // fewer slots than requests: some join while others decode
  auto engine = BatchEngine::Start(*model_, *tokenizer_, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<EngineRequest> requests;
  const char* prompts[] = {"find", "list files modified", "Input: list", "xargs grep -l error | sort", "ls", "Output:"};
  for (int i = 0; i < 6; ++i) requests.push_back(Request(prompts[i], 5 + 4 * i, 100 + i, i % 2 == 0 ? 0.0 : 0.9));
  std::vector<absl::StatusOr<EngineResult>> results(requests.size(), absl::UnknownError("not run"));
  std::vector<std::thread> clients;
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back([&, i] { results[i] = (*engine)->Generate(requests[i]); });
  }
  for (std::thread& client : clients) client.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->token_ids, Alone(requests[i])) << "request " << i;
    EXPECT_GT(results[i]->total_seconds, 0);
  }
}

TEST_F(BatchEngineTest, StreamedPiecesAddUpToTheText) {
  auto engine = BatchEngine::Start(*model_, *tokenizer_, {});
  ASSERT_TRUE(engine.ok());
  EngineRequest request = Request("find . -name", 30, 5, 0.8);
  std::string streamed;
  int pieces = 0;
  request.on_text = [&](const std::string& delta) {
    streamed += delta;
    ++pieces;
  };
  auto result = (*engine)->Generate(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(streamed, result->text);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(result->inter_token_seconds.size() + 1, result->token_ids.size() + (result->finish_reason == FinishReason::kEos));
}

TEST_F(BatchEngineTest, StopStringsEndTheRequestAndNeverStream) {
  auto engine = BatchEngine::Start(*model_, *tokenizer_, {});
  ASSERT_TRUE(engine.ok());
  EngineRequest probe = Request("ls", 20, 1, 0.0);
  auto free_run = (*engine)->Generate(probe);
  ASSERT_TRUE(free_run.ok());
  ASSERT_GE(free_run->text.size(), 4u);
  EngineRequest stopped = probe;
  stopped.stop_strings = {free_run->text.substr(2, 2)};
  std::string streamed;
  stopped.on_text = [&](const std::string& delta) { streamed += delta; };
  auto result = (*engine)->Generate(stopped);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish_reason, FinishReason::kStop);
  EXPECT_EQ(result->text, free_run->text.substr(0, free_run->text.find(stopped.stop_strings[0])));
  EXPECT_EQ(streamed, result->text);
}

TEST_F(BatchEngineTest, FullQueueCancellationAndDeadlinesAreReported) {
  EngineOptions options;
  options.max_batch_size = 1;
  options.max_waiting = 1;
  auto engine = BatchEngine::Start(*model_, *tokenizer_, options);
  ASSERT_TRUE(engine.ok());
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
  absl::StatusOr<EngineResult> slow_result = absl::UnknownError("");
  std::thread first([&] { slow_result = (*engine)->Generate(slow); });
  while (!engine_blocked) std::this_thread::yield();
  absl::StatusOr<EngineResult> queued_result = absl::UnknownError("");
  EngineRequest queued = Request("ls", 3, 1, 0.0);
  std::thread second([&] { queued_result = (*engine)->Generate(queued); });
  while ((*engine)->stats().waiting == 0) std::this_thread::yield();
  EXPECT_EQ((*engine)->Generate(Request("ls", 3, 1, 0.0)).status().code(), absl::StatusCode::kResourceExhausted);
  release = true;
  first.join();
  second.join();
  EXPECT_EQ(slow_result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(queued_result.ok()) << queued_result.status();

  EngineRequest late = Request("ls", 3, 1, 0.0);
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ((*engine)->Generate(late).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*engine)->Generate(Request("ls", 200, 1, 0.0)).status().code(), absl::StatusCode::kOutOfRange);
  EngineRequest empty;
  EXPECT_EQ((*engine)->Generate(empty).status().code(), absl::StatusCode::kInvalidArgument);
  (*engine)->Drain();
  EXPECT_EQ((*engine)->Generate(Request("ls", 3, 1, 0.0)).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace promptintern
