// The serving engine under load, in process (no gRPC), on randomly initialised models:
//   1. full prompts with and without the prefix cache, against the query alone: time to first
//      token and throughput;
//   2. concurrency 1, 4, 16 and 64 of query-only clients while a stream of long prompts keeps
//      arriving: throughput and inter-token latency p50/p99;
//   3. KV cache memory resident against tokens in use (the pool is mapped lazily);
//   4. eight LoRA adapters served by one engine against eight engines each with its own copy of
//      the model (resident memory, throughput).
//
//   build/bin/engine_bench                    # demo-sized model (0.9M) and 25M
//   build/bin/engine_bench --sizes demo --seconds 4
//
// Prompts are random ids of the shape of the demo task's: a full prompt is a shared template
// (the same for every request, so the prefix cache can hold it) followed by retrieved examples
// that differ per request and the query; query-only is the query alone. Generation is greedy and
// runs to max_new_tokens (random weights do not stop at EOS).
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "core/lora/lora.h"
#include "core/model/architecture.h"
#include "core/model/decoder.h"
#include "core/serve/output_processor.h"
#include "core/util/file.h"
#include "core/util/threads.h"

namespace promptintern {
namespace {

struct PromptShape {
  int template_tokens = 360;  // shared by every full prompt
  int example_tokens = 200;   // five retrieved examples, different per query
  int query_tokens = 22;
  int max_new_tokens = 32;
};

class PromptMaker {
 public:
  PromptMaker(int vocab, PromptShape shape) : vocab_(vocab), shape_(shape), random_(7) {
    template_ = Ids(shape.template_tokens);
  }
  std::vector<int> QueryOnly() { return Ids(shape_.query_tokens); }
  std::vector<int> Full() {
    std::vector<int> ids = template_;
    const std::vector<int> rest = Ids(shape_.example_tokens + shape_.query_tokens);
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  }

 private:
  std::vector<int> Ids(int count) {
    std::uniform_int_distribution<int> id(3, vocab_ - 1);
    std::vector<int> ids(count);
    for (int& value : ids) value = id(random_);
    return ids;
  }
  int vocab_;
  PromptShape shape_;
  std::mt19937 random_;
  std::vector<int> template_;
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5));
  return values[index];
}

// Resident set of this process in MiB.
double ResidentMiB() { return static_cast<double>(bench::ProcStatusKb("VmRSS")) / 1024.0; }

struct LoadResult {
  int64_t requests = 0;
  int64_t tokens = 0;
  double seconds = 0.0;
  std::vector<double> first_token;
  std::vector<double> inter_token;
  int64_t failures = 0;
};

// `clients` closed-loop clients for `seconds`, each sending `make()` prompts. `adapters`, when
// given, are cycled over the requests.
template <typename MakePrompt>
LoadResult ClosedLoop(Engine& engine, int clients, double seconds, int max_new_tokens, MakePrompt make,
                      const std::vector<std::shared_ptr<const LowRankAdapter>>& adapters = {}) {
  LoadResult result;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> counter{0};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        EngineRequest request;
        {
          std::lock_guard<std::mutex> lock(mu);
          request.prompt_ids = make();
        }
        request.max_new_tokens = max_new_tokens;
        request.stop_at_eos = false;
        if (!adapters.empty()) request.adapter = adapters[counter++ % adapters.size()];
        auto output = Generate(engine, std::move(request), {});
        std::lock_guard<std::mutex> lock(mu);
        if (!output.ok()) {
          ++result.failures;
          continue;
        }
        ++result.requests;
        result.tokens += static_cast<int64_t>(output->token_ids.size());
        result.first_token.push_back(output->outcome.first_token_seconds);
        result.inter_token.insert(result.inter_token.end(), output->outcome.inter_token_seconds.begin(),
                                  output->outcome.inter_token_seconds.end());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& thread : threads) thread.join();
  result.seconds = Seconds(start);
  return result;
}

EngineOptions Options(bool prefix_caching, int max_batch) {
  EngineOptions options;
  options.max_batch_size = max_batch;
  options.max_waiting = 256;
  options.prefix_caching = prefix_caching;
  return options;
}

void PrefixCacheTable(const DecoderModel& model, const PromptShape& shape, double seconds) {
  std::printf("\n### Full prompt with and without the prefix cache (concurrency 4, max batch 8)\n\n");
  std::printf("| prompt | input tokens | prefix cache | first token p50 / p99 (ms) | req/s | cached share of input |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (int row = 0; row < 3; ++row) {
    const bool full = row < 2;
    const bool cache = row == 1 || row == 2;
    PromptMaker prompts(static_cast<int>(model.config().vocab_size), shape);
    auto engine = Engine::Start(model, Options(cache, 8));
    if (!engine.ok()) {
      std::printf("engine: %s\n", std::string(engine.status().message()).c_str());
      return;
    }
    const LoadResult result = ClosedLoop(**engine, 4, seconds, shape.max_new_tokens,
                                         [&] { return full ? prompts.Full() : prompts.QueryOnly(); });
    const KvBlockStats kv = (*engine)->stats().kv;
    const double cached_share =
        kv.prefix_query_tokens > 0 ? static_cast<double>(kv.prefix_hit_tokens) / kv.prefix_query_tokens : 0.0;
    const int input = full ? shape.template_tokens + shape.example_tokens + shape.query_tokens : shape.query_tokens;
    std::printf("| %s | %d | %s | %.1f / %.1f | %.1f | %.0f%% |\n", full ? "full" : "query only", input,
                cache ? "on" : "off", 1e3 * Percentile(result.first_token, 0.5),
                1e3 * Percentile(result.first_token, 0.99), result.requests / result.seconds, 100 * cached_share);
  }
}

void ConcurrencyTable(const DecoderModel& model, const PromptShape& shape, double seconds) {
  std::printf("\n### Query-only clients while long full prompts keep arriving (max batch 16, prefix cache on)\n\n");
  std::printf("| concurrency | req/s | output tok/s | inter-token p50 / p99 (ms) | first token p99 (ms) | long prompts served |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (int clients : {1, 4, 16, 64}) {
    PromptMaker prompts(static_cast<int>(model.config().vocab_size), shape);
    PromptMaker long_prompts(static_cast<int>(model.config().vocab_size), shape);
    EngineOptions options = Options(true, 16);
    auto engine = Engine::Start(model, options);
    if (!engine.ok()) return;
    std::atomic<bool> stop{false};
    std::atomic<int64_t> long_served{0};
    // One client sending full prompts back to back, beside the measured ones.
    std::thread background([&] {
      while (!stop.load()) {
        EngineRequest request;
        request.prompt_ids = long_prompts.Full();
        request.max_new_tokens = shape.max_new_tokens;
        request.stop_at_eos = false;
        if (Generate(**engine, std::move(request), {}).ok()) ++long_served;
      }
    });
    const LoadResult result = ClosedLoop(**engine, clients, seconds, shape.max_new_tokens, [&] { return prompts.QueryOnly(); });
    stop = true;
    background.join();
    std::printf("| %d | %.1f | %.0f | %.1f / %.1f | %.1f | %ld |\n", clients, result.requests / result.seconds,
                result.tokens / result.seconds, 1e3 * Percentile(result.inter_token, 0.5),
                1e3 * Percentile(result.inter_token, 0.99), 1e3 * Percentile(result.first_token, 0.99),
                static_cast<long>(long_served.load()));
  }
}

void KvMemoryTable(const DecoderModel& model, const PromptShape& shape) {
  std::printf("\n### KV cache: resident memory against tokens in use (pool of 256 MiB)\n\n");
  std::printf("| sequences held | tokens in use | KV blocks used | resident growth (MiB) | KV bytes of those tokens (MiB) |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  const ModelConfig& config = model.config();
  const double bytes_per_token =
      2.0 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim() * sizeof(float);
  EngineOptions options = Options(false, 64);
  options.kv_cache_bytes = int64_t{256} << 20;
  const double before = ResidentMiB();
  auto engine = Engine::Start(model, options);
  if (!engine.ok()) return;
  PromptMaker prompts(static_cast<int>(config.vocab_size), shape);
  std::printf("| 0 | 0 | 0 | %.1f | 0.0 |\n", ResidentMiB() - before);
  for (int sequences : {1, 8, 32}) {
    // Requests that hold their blocks: long generations whose streams are read at the end.
    std::vector<std::shared_ptr<RequestStream>> held;
    for (int i = 0; i < sequences; ++i) {
      EngineRequest request;
      request.prompt_ids = prompts.Full();
      request.max_new_tokens = 400;
      request.stop_at_eos = false;
      auto stream = (*engine)->Submit(std::move(request));
      if (stream.ok()) held.push_back(*std::move(stream));
    }
    // Wait until every prompt is prefilled and decoding.
    for (int i = 0; i < 2000; ++i) {
      const EngineStats stats = (*engine)->stats();
      if (stats.waiting == 0 && stats.kv.used_blocks >= sequences * 37) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const EngineStats stats = (*engine)->stats();
    const int64_t tokens = stats.kv.used_blocks * options.block_size;
    std::printf("| %d | ~%ld | %ld | %.1f | %.1f |\n", sequences, static_cast<long>(tokens),
                static_cast<long>(stats.kv.used_blocks), ResidentMiB() - before, tokens * bytes_per_token / (1 << 20));
    for (auto& stream : held) stream->Stop();
    std::vector<int> ignored;
    for (auto& stream : held) {
      while (stream->Next(&ignored)) {
      }
    }
  }
}

void AdapterTable(const ModelConfig& config, const PromptShape& shape, double seconds) {
  std::printf("\n### Eight LoRA adapters (rank 8, every projection): one engine against eight\n\n");
  std::printf("| setup | resident growth (MiB) | req/s (16 clients) | output tok/s |\n");
  std::printf("| --- | --- | --- | --- |\n");
  const std::vector<std::string> targets = ProjectionShortNames();
  {
    const double before = ResidentMiB();
    auto base = DecoderModel::Create(config);
    if (!base.ok() || !(*base)->InitializeRandom(1).ok()) return;
    std::vector<std::shared_ptr<const LowRankAdapter>> adapters;
    for (int i = 0; i < 8; ++i) {
      auto donor = DecoderModel::Create(config);
      if (!donor.ok() || !(*donor)->InitializeRandom(1).ok()) return;
      LoraConfig lora;
      lora.target_modules = targets;
      if (!AttachLora(**donor, lora, 100 + i).ok()) return;
      const std::string directory = JoinPath("/tmp", "engine_bench_adapter_" + std::to_string(i));
      MakeDirectories(directory).IgnoreError();
      if (!SaveLoraAdapter(**donor, lora, "bench", directory).ok()) return;
      auto adapter = ReadLoraAdapter(**base, directory, "adapter-" + std::to_string(i));
      if (!adapter.ok()) return;
      adapters.push_back(*adapter);
    }
    auto engine = Engine::Start(**base, Options(true, 16));
    if (!engine.ok()) return;
    PromptMaker prompts(static_cast<int>(config.vocab_size), shape);
    const LoadResult result =
        ClosedLoop(**engine, 16, seconds, shape.max_new_tokens, [&] { return prompts.QueryOnly(); }, adapters);
    std::printf("| one engine, base + 8 adapters, mixed batches | %.1f | %.1f | %.0f |\n", ResidentMiB() - before,
                result.requests / result.seconds, result.tokens / result.seconds);
  }
  {
    const double before = ResidentMiB();
    std::vector<std::unique_ptr<DecoderModel>> models;
    std::vector<std::unique_ptr<Engine>> engines;
    for (int i = 0; i < 8; ++i) {
      auto model = DecoderModel::Create(config);
      if (!model.ok() || !(*model)->InitializeRandom(1).ok()) return;
      models.push_back(*std::move(model));
      auto engine = Engine::Start(*models.back(), Options(true, 2));
      if (!engine.ok()) return;
      engines.push_back(*std::move(engine));
    }
    std::vector<LoadResult> results(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        PromptMaker prompts(static_cast<int>(config.vocab_size), shape);
        results[i] = ClosedLoop(*engines[i], 2, seconds, shape.max_new_tokens, [&] { return prompts.QueryOnly(); });
      });
    }
    for (std::thread& thread : threads) thread.join();
    double requests = 0, tokens = 0, elapsed = 0;
    for (const LoadResult& result : results) {
      requests += result.requests;
      tokens += result.tokens;
      elapsed = std::max(elapsed, result.seconds);
    }
    std::printf("| eight engines, one merged model each, 2 clients each | %.1f | %.1f | %.0f |\n",
                ResidentMiB() - before, requests / elapsed, tokens / elapsed);
  }
}

}  // namespace
}  // namespace promptintern

int main(int argc, char** argv) {
  CLI::App app{"PromptIntern serving engine benchmark"};
  std::vector<std::string> sizes = {"demo", "25m"};
  double seconds = 6.0;
  int threads = 0;
  app.add_option("--sizes", sizes, "Model sizes: demo (0.9M), 25m, 110m");
  app.add_option("--seconds", seconds, "Duration of each load row");
  app.add_option("--threads", threads, "Compute threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  promptintern::SetComputeThreads(threads);
  c10::InferenceMode inference_mode;
  const promptintern::PromptShape shape;
  for (const std::string& size : sizes) {
    const promptintern::bench::BenchSize* shape_of_size = promptintern::bench::FindBenchSize(size);
    if (shape_of_size == nullptr) {
      std::fprintf(stderr, "unknown size %s (demo, 25m, 110m)\n", size.c_str());
      return 2;
    }
    promptintern::ModelConfig config;
    config.max_position_embeddings = 1024;
    config.tie_word_embeddings = true;
    config = promptintern::bench::WithBenchSize(config, *shape_of_size);
    auto model = promptintern::DecoderModel::Create(config);
    if (!model.ok() || !(*model)->InitializeRandom(1).ok()) {
      std::fprintf(stderr, "cannot create the %s model\n", size.c_str());
      return 1;
    }
    std::printf("\n## %s model: %.1fM parameters, %.0f s per row\n", size.c_str(),
                config.NumParameters() / 1e6, seconds);
    promptintern::PrefixCacheTable(**model, shape, seconds);
    promptintern::ConcurrencyTable(**model, shape, seconds);
    promptintern::KvMemoryTable(**model, shape);
    promptintern::AdapterTable(config, shape, seconds);
  }
  return 0;
}
