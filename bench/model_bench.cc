// Model throughput on this machine: prefill tokens/s, decode tokens/s at batch 1 and 8, and
// training tokens/s, for a randomly initialised Llama of configurable size, per serving weight
// form (--weights: "plain" is the unpacked float32 model through libtorch/OpenBLAS, the others
// DecoderModel::PackForServing's packed, fused form). Each figure is the median of --repeats runs
// and stands next to its bound, measured just before the form's figures (bench_support.h): decode against bandwidth / weight
// bytes read per step (x batch), prefill and training against the 1024^3 sgemm peak
// (2 and 6 FLOP per parameter per token).
//
//   build/bin/model_bench                       # the default sizes (demo and 25m)
//   build/bin/model_bench --size 110m           # llama2.c's stories110M shape
//   build/bin/model_bench --hidden 768 ...      # any other shape
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "core/model/decoder.h"
#include "core/platform/blas_dispatch.h"
#include "core/serve/engine.h"
#include "core/serve/output_processor.h"
#include "core/train/causal_lm.h"
#include "core/train/model_trainer.h"
#include "core/util/threads.h"

namespace promptintern {
namespace {

struct BenchOptions {
  int prompt_tokens = 128;
  int decode_tokens = 128;
  int train_batch = 8;
  int train_sequence = 128;
  int train_steps = 3;
  int repeats = 3;
  std::vector<std::string> weights = {"plain", "f32", "bf16", "int8"};
  std::vector<int> decode_batches = {1, 8};
};

struct Bounds {
  double bandwidth_gbps = 0;  // streaming read, 10th-percentile time
  double matmul_gflops = 0;
};

// Measured again before each weight form's figures: on the shared machines measured, bandwidth
// and sgemm peak drift by a fifth within minutes, so a bound taken once at the start can flatter
// or wrong a figure taken later.
Bounds MeasureBounds(int repeats) {
  const int64_t bytes = 8 * bench::LastLevelCacheBytes();
  Bounds bounds;
  bounds.bandwidth_gbps = bench::MeasureBandwidth(bytes, repeats).p10;
  bounds.matmul_gflops = bench::MeasureMatmulPeak(repeats).p10;
  std::printf("  bounds: bandwidth %.1f GB/s (streaming read of %ld MiB), matmul peak %.1f GFLOP/s (1024^3 sgemm)\n",
              bounds.bandwidth_gbps, static_cast<long>(bytes >> 20), bounds.matmul_gflops);
  return bounds;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Median seconds of `repeats` runs (the machine may be shared: a best-of hides how often it is not).
template <typename Fn>
double MedianOf(int repeats, Fn&& fn) {
  return bench::Summarize(bench::TimeEach(repeats, [&](int64_t) { fn(); })).median;
}

std::vector<int> RandomTokens(std::mt19937& random, int count, int64_t vocab) {
  std::vector<int> tokens(count);
  for (int& token : tokens) token = 4 + static_cast<int>(random() % (vocab - 4));
  return tokens;
}

int Run(const std::string& label, const ModelConfig& config, const BenchOptions& options) {
  std::printf("%s: %.1fM parameters (hidden %ld, layers %ld, heads %ld/%ld, intermediate %ld, vocab %ld), %d threads\n",
              label.c_str(), config.NumParameters() / 1e6, config.hidden_size, config.num_hidden_layers,
              config.num_attention_heads, config.num_key_value_heads, config.intermediate_size, config.vocab_size,
              at::get_num_threads());
  const double flops_per_token = 2.0 * static_cast<double>(config.NumParameters());
  for (const std::string& weights : options.weights) {
    auto created = DecoderModel::Create(config);
    if (!created.ok() || !(*created)->InitializeRandom(1).ok()) {
      std::cerr << "cannot create model: " << created.status() << "\n";
      return 1;
    }
    DecoderModel& model = **created;
    if (weights != "plain") {
      auto format = ParseWeightFormat(weights);
      absl::Status packed = format.ok() ? model.PackForServing({*format}) : format.status();
      if (!packed.ok()) {
        std::cerr << "--weights " << weights << ": " << packed << "\n";
        return 1;
      }
    }
    const double step_bytes = static_cast<double>(model.WeightBytesPerToken());
    std::printf(" weights %-5s (%.1f MB read per decode step)\n", weights.c_str(), step_bytes / 1e6);
    const Bounds bounds = MeasureBounds(options.repeats);
    // One engine for every figure of this form, as a service runs one: starting an engine per call
    // would time its thread's start-up (libtorch's thread pools are created lazily on it) along with
    // the model. No prefix cache, so a repeated prompt is computed every time.
    EngineOptions engine_options;
    engine_options.max_batch_size = *std::max_element(options.decode_batches.begin(), options.decode_batches.end());
    engine_options.prefix_caching = false;
    const int64_t longest = std::max(options.prompt_tokens + 1, 8 + options.decode_tokens);
    engine_options.kv_cache_bytes = engine_options.max_batch_size * (longest + engine_options.block_size) *
                                    KvCacheBytesPerToken(config);
    auto engine = Engine::Start(model, engine_options);
    if (!engine.ok()) {
      std::cerr << "cannot start the engine: " << engine.status() << "\n";
      return 1;
    }
    // A figure from a failed generation would be the time it took to fail: stop instead.
    auto generate = [&](const std::vector<EngineRequest>& batch) {
      auto outputs = GenerateAll(**engine, batch, {});
      if (!outputs.ok()) {
        std::cerr << "generation failed: " << outputs.status() << "\n";
        std::exit(1);
      }
    };
    std::mt19937 random(7);
    // Prefill: one prompt, no new tokens beyond the first.
    EngineRequest prefill;
    prefill.prompt_ids = RandomTokens(random, options.prompt_tokens, config.vocab_size);
    prefill.max_new_tokens = 1;
    const double prefill_seconds = MedianOf(options.repeats, [&] { generate({prefill}); });
    const double prefill_rate = options.prompt_tokens / prefill_seconds;
    std::printf("  prefill  batch 1, %4d tokens      : %9.0f tokens/s  %5.0f GFLOP/s = %3.0f%% of the matmul peak\n",
                options.prompt_tokens, prefill_rate, prefill_rate * flops_per_token / 1e9,
                100 * prefill_rate * flops_per_token / 1e9 / bounds.matmul_gflops);
    for (int batch : options.decode_batches) {
      std::vector<EngineRequest> requests(batch);
      for (auto& request : requests) {
        request.prompt_ids = RandomTokens(random, 8, config.vocab_size);
        request.max_new_tokens = options.decode_tokens;
        request.stop_at_eos = false;
      }
      std::vector<EngineRequest> short_requests = requests;
      for (auto& request : short_requests) request.max_new_tokens = 1;
      // Decode rate = (time for N tokens - time for the prefill and first token) / (N - 1) steps.
      const double full = MedianOf(options.repeats, [&] { generate(requests); });
      const double first = MedianOf(options.repeats, [&] { generate(short_requests); });
      const double rate = static_cast<double>(batch) * (options.decode_tokens - 1) / (full - first);
      const double bound = batch * bounds.bandwidth_gbps * 1e9 / step_bytes;
      std::printf("  decode   batch %d, %4d new tokens  : %9.0f tokens/s  bound %6.0f: %3.0f%%\n", batch,
                  options.decode_tokens, rate, bound, 100 * rate / bound);
    }
  }
  if (std::find(options.weights.begin(), options.weights.end(), "plain") == options.weights.end()) return 0;
  auto created = DecoderModel::Create(config);
  if (!created.ok() || !(*created)->InitializeRandom(1).ok()) return 1;
  DecoderModel& model = **created;
  std::mt19937 random(7);
  OptimizerConfig optimizer;
  auto trainer = ModelTrainer::Create(&model, optimizer, /*lora_only=*/false);
  if (!trainer.ok()) {
    std::cerr << trainer.status() << "\n";
    return 1;
  }
  std::vector<TrainingExample> examples(options.train_batch);
  for (auto& example : examples) {
    example.prompt_ids = RandomTokens(random, options.train_sequence / 2, config.vocab_size);
    example.completion_ids = RandomTokens(random, options.train_sequence / 2, config.vocab_size);
  }
  auto batch = CollateBatch(examples, 0, options.train_sequence);
  const Bounds bounds = MeasureBounds(options.repeats);
  (void)(*trainer)->Step({*batch});  // warm-up: allocates optimizer state
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < options.train_steps; ++step) (void)(*trainer)->Step({*batch});
  const double train_seconds = Seconds(start);
  const double train_rate = static_cast<double>(batch->tokens_in_batch) * options.train_steps / train_seconds;
  std::printf(" training (float32) batch %d x %d     : %9.0f tokens/s  %5.0f GFLOP/s = %3.0f%% of the matmul peak "
              "(forward + backward + AdamW)\n",
              options.train_batch, options.train_sequence, train_rate, 3 * train_rate * flops_per_token / 1e9,
              100 * 3 * train_rate * flops_per_token / 1e9 / bounds.matmul_gflops);
  return 0;
}

}  // namespace
}  // namespace promptintern

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "model_bench");
  using promptintern::ModelConfig;
  CLI::App app{"PromptIntern model throughput benchmark"};
  ModelConfig custom;
  custom.vocab_size = 4096;
  custom.max_position_embeddings = 512;
  custom.tie_word_embeddings = true;
  bool use_custom = false;
  promptintern::BenchOptions options;
  int threads = 0;
  app.add_option("--threads", threads, "Compute threads (0 = all cores)");
  std::vector<std::string> sizes = {"demo", "25m"};
  app.add_option("--size", sizes, "Model shapes to run, by name: demo, 25m, 110m (default: demo 25m)")
      ->check(CLI::IsMember({"demo", "25m", "110m"}));
  for (auto [flag, field] : {std::pair{"--hidden", &custom.hidden_size}, std::pair{"--layers", &custom.num_hidden_layers},
                             std::pair{"--heads", &custom.num_attention_heads},
                             std::pair{"--kv-heads", &custom.num_key_value_heads},
                             std::pair{"--intermediate", &custom.intermediate_size}, std::pair{"--vocab", &custom.vocab_size}}) {
    app.add_option(flag, *field)->each([&](const std::string&) { use_custom = true; });
  }
  app.add_option("--prompt-tokens", options.prompt_tokens);
  app.add_option("--decode-tokens", options.decode_tokens);
  app.add_option("--decode-batches", options.decode_batches, "Decode batch sizes (default: 1 8)")
      ->check(CLI::PositiveNumber);
  app.add_option("--train-batch", options.train_batch);
  app.add_option("--train-sequence", options.train_sequence);
  app.add_option("--train-steps", options.train_steps);
  app.add_option("--repeats", options.repeats, "Runs per figure (the median counts)")->check(CLI::PositiveNumber);
  app.add_option("--weights", options.weights, "Weight forms: plain (unpacked float32), f32, bf16, f16, int8")
      ->check(CLI::IsMember({"plain", "f32", "bf16", "f16", "int8"}));
  CLI11_PARSE(app, argc, argv);
  promptintern::SetComputeThreads(threads);
  namespace bench = promptintern::bench;
  if (use_custom) return promptintern::Run("custom", custom, options);
  for (const std::string& size : sizes) {
    const ModelConfig config = bench::WithBenchSize(custom, *bench::FindBenchSize(size));
    if (int rc = promptintern::Run(size, config, options); rc != 0) return rc;
  }
  return 0;
}
