// The serving engine under load, in process (no gRPC), on randomly initialised models:
//   1. full prompts with and without the prefix cache, against the query alone: time to first
//      token and throughput;
//   2. concurrency 1, 4, 16 and 64 of query-only clients while a stream of long prompts keeps
//      arriving: throughput and inter-token latency p50/p99;
//   3. KV cache memory resident against tokens in use (the pool is mapped lazily);
//   4. eight LoRA adapters served by one process (one base, adapters applied per row) against
//      eight processes each with its own merged model (memory of the processes, throughput).
//
//   build/bin/engine_bench                    # demo-sized model (0.9M) and 25M
//   build/bin/engine_bench --sizes demo --seconds 4
//   build/bin/engine_bench --sizes 25m --tables adapters
//
// Prompts are random ids of the shape of the demo task's: a full prompt is a shared template
// (the same for every request, so the prefix cache can hold it) followed by retrieved examples
// that differ per request and the query; query-only is the query alone. Generation is greedy and
// runs to max_new_tokens (random weights do not stop at EOS).
#include <CLI/CLI.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "core/lora/lora.h"
#include "core/model/architecture.h"
#include "core/model/decoder.h"
#include "core/platform/blas_dispatch.h"
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

// The adapter table's processes (`--adapter-worker`). "shared": one base and adapters
// [first, first + adapters), the requests cycling over them in mixed batches; "merged": adapter
// `first` merged into this process's own copy of the base (what serving that fine-tune alone
// holds). The worker builds its model and engine, prints "ready", waits for a line on stdin (so
// all workers load before any serves), serves `clients` closed-loop clients for `seconds`, and
// prints "requests tokens seconds pss_kb rss_kb", memory read three quarters into the load, while
// every worker is still serving.
int AdapterWorker(const ModelConfig& config, const PromptShape& shape, const std::string& mode, int first,
                  int adapters, int clients, double seconds) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "engine_bench adapter worker: %s\n", std::string(status.message()).c_str());
    return 1;
  };
  auto base = DecoderModel::Create(config);
  if (!base.ok()) return fail(base.status());
  if (absl::Status status = (*base)->InitializeRandom(1); !status.ok()) return fail(status);
  LoraConfig lora;
  lora.target_modules = ProjectionShortNames();
  std::vector<std::shared_ptr<const LowRankAdapter>> served;
  const std::string directory = JoinPath("/tmp", "engine_bench_adapters_" + std::to_string(getpid()));
  if (mode == "merged") {
    if (absl::Status status = AttachLora(**base, lora, 100 + first); !status.ok()) return fail(status);
    if (absl::Status status = MergeLora(**base); !status.ok()) return fail(status);
  } else {
    for (int i = first; i < first + adapters; ++i) {
      auto donor = DecoderModel::Create(config);
      if (!donor.ok()) return fail(donor.status());
      if (absl::Status status = (*donor)->InitializeRandom(1); !status.ok()) return fail(status);
      if (absl::Status status = AttachLora(**donor, lora, 100 + i); !status.ok()) return fail(status);
      const std::string adapter_directory = JoinPath(directory, std::to_string(i));
      if (absl::Status status = MakeDirectories(adapter_directory); !status.ok()) return fail(status);
      if (absl::Status status = SaveLoraAdapter(**donor, lora, "bench", adapter_directory); !status.ok()) {
        return fail(status);
      }
      auto adapter = ReadLoraAdapter(**base, adapter_directory, "adapter-" + std::to_string(i));
      if (!adapter.ok()) return fail(adapter.status());
      served.push_back(*adapter);
    }
    std::filesystem::remove_all(directory);
  }
  auto engine = Engine::Start(**base, Options(true, clients));
  if (!engine.ok()) return fail(engine.status());
  std::printf("ready\n");
  std::fflush(stdout);
  std::string go;
  if (!std::getline(std::cin, go)) return 1;
  int64_t pss_kb = -1, rss_kb = -1;
  std::thread memory([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(0.75 * seconds));
    pss_kb = bench::ProportionalSetKb();
    rss_kb = bench::ProcStatusKb("VmRSS");
  });
  PromptMaker prompts(static_cast<int>(config.vocab_size), shape);
  const LoadResult result =
      ClosedLoop(**engine, clients, seconds, shape.max_new_tokens, [&] { return prompts.QueryOnly(); }, served);
  memory.join();
  std::printf("%ld %ld %.6f %ld %ld\n", result.requests, result.tokens, result.seconds, pss_kb, rss_kb);
  return result.failures == 0 ? 0 : 1;
}

// Eight LoRA fine-tunes of one base served two ways, each way as whole processes (runtime
// included) measured side by side: one process holding the base and all eight adapters (16
// clients), and eight processes each holding its own merged model (2 clients each, one compute
// thread each, so the eight together use as many threads as the cores, not eight times as many).
void AdapterTable(const std::string& size, const PromptShape& shape, double seconds) {
  std::printf("\n### Eight LoRA adapters (rank 8, every projection): one process against eight\n\n");
  std::printf("| setup | processes | memory, PSS summed (MiB) | RSS summed (MiB) | req/s (16 clients) | output tok/s |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  struct Setup {
    const char* label;
    const char* mode;
    int processes;
    int adapters_each;
    int clients_each;
    int threads_each;
  };
  const Setup setups[] = {
      {"one process: base + 8 adapters, mixed batches", "shared", 1, 8, 16, 0},
      {"eight processes: one merged model each", "merged", 8, 1, 2, std::max(1, cores / 8)},
  };
  for (const Setup& setup : setups) {
    std::vector<std::unique_ptr<bench::ChildProcess>> workers;
    bool ready = true;
    for (int p = 0; p < setup.processes && ready; ++p) {
      workers.push_back(bench::ChildProcess::Start(
          {"--sizes", size, "--seconds", std::to_string(seconds), "--threads", std::to_string(setup.threads_each),
           "--adapter-worker", setup.mode, "--adapter-first", std::to_string(p * setup.adapters_each),
           "--adapter-count", std::to_string(setup.adapters_each), "--adapter-clients",
           std::to_string(setup.clients_each)}));
      ready = workers.back() != nullptr;
    }
    for (auto& worker : workers) {
      std::string line;
      ready = ready && worker->ReadLine(&line) && line == "ready";
    }
    for (auto& worker : workers) ready = ready && worker->WriteLine("go");
    double requests = 0, tokens = 0, elapsed = 0, pss_kb = 0, rss_kb = 0;
    for (auto& worker : workers) {
      std::string line;
      int64_t worker_requests = 0, worker_tokens = 0, worker_pss = 0, worker_rss = 0;
      double worker_seconds = 0;
      ready = ready && worker->ReadLine(&line) &&
              std::sscanf(line.c_str(), "%ld %ld %lf %ld %ld", &worker_requests, &worker_tokens, &worker_seconds,
                          &worker_pss, &worker_rss) == 5 &&
              worker_pss > 0 && worker->Wait();
      requests += worker_requests;
      tokens += worker_tokens;
      elapsed = std::max(elapsed, worker_seconds);
      pss_kb += worker_pss;
      rss_kb += worker_rss;
    }
    if (!ready) {
      std::printf("| %s | a worker process failed (its stderr is above) | | | | |\n", setup.label);
      continue;
    }
    std::printf("| %s | %d | %.1f | %.1f | %.1f | %.0f |\n", setup.label, setup.processes, pss_kb / 1024.0,
                rss_kb / 1024.0, requests / elapsed, tokens / elapsed);
  }
}

}  // namespace
}  // namespace promptintern

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "engine_bench");
  CLI::App app{"PromptIntern serving engine benchmark"};
  std::vector<std::string> sizes = {"demo", "25m"};
  std::vector<std::string> tables = {"prefix", "concurrency", "kv", "adapters"};
  double seconds = 6.0;
  int threads = 0;
  std::string adapter_worker;
  int adapter_first = 0, adapter_count = 1, adapter_clients = 2;
  app.add_option("--sizes", sizes, "Model sizes: demo (0.9M), 25m, 110m");
  app.add_option("--tables", tables, "Tables to run: prefix, concurrency, kv, adapters")
      ->check(CLI::IsMember({"prefix", "concurrency", "kv", "adapters"}));
  app.add_option("--seconds", seconds, "Duration of each load row");
  app.add_option("--threads", threads, "Compute threads (0 = all cores)");
  app.add_option("--adapter-worker", adapter_worker, "(internal) an adapter table process: shared or merged")
      ->check(CLI::IsMember({"shared", "merged"}));
  app.add_option("--adapter-first", adapter_first, "(internal) the worker's first adapter");
  app.add_option("--adapter-count", adapter_count, "(internal) adapters of a shared worker");
  app.add_option("--adapter-clients", adapter_clients, "(internal) the worker's clients");
  CLI11_PARSE(app, argc, argv);
  promptintern::SetComputeThreads(threads);
  c10::InferenceMode inference_mode;
  const promptintern::PromptShape shape;
  auto has_table = [&](const char* name) { return std::find(tables.begin(), tables.end(), name) != tables.end(); };
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
    if (!adapter_worker.empty()) {
      return promptintern::AdapterWorker(config, shape, adapter_worker, adapter_first, adapter_count,
                                         adapter_clients, seconds);
    }
    auto model = promptintern::DecoderModel::Create(config);
    if (!model.ok() || !(*model)->InitializeRandom(1).ok()) {
      std::fprintf(stderr, "cannot create the %s model\n", size.c_str());
      return 1;
    }
    std::printf("\n## %s model: %.1fM parameters, %.0f s per row\n", size.c_str(),
                config.NumParameters() / 1e6, seconds);
    if (has_table("prefix")) promptintern::PrefixCacheTable(**model, shape, seconds);
    if (has_table("concurrency")) promptintern::ConcurrencyTable(**model, shape, seconds);
    if (has_table("kv")) promptintern::KvMemoryTable(**model, shape);
    if (has_table("adapters")) promptintern::AdapterTable(size, shape, seconds);
  }
  return 0;
}
