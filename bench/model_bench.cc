// Model throughput on this machine: prefill tokens/s, decode tokens/s at batch 1 and 8, and
// training tokens/s, for a randomly initialised Llama of configurable size.
//
//   build/bin/model_bench                       # the default sizes (tiny and 25M)
//   build/bin/model_bench --hidden 768 --layers 12 --heads 12 --kv-heads 4 --intermediate 2048
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "core/model/decoder.h"
#include "core/platform/blas_dispatch.h"
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
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <typename Fn>
double BestOf(int repeats, Fn&& fn) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, Seconds(start));
  }
  return best;
}

std::vector<int> RandomTokens(std::mt19937& random, int count, int64_t vocab) {
  std::vector<int> tokens(count);
  for (int& token : tokens) token = 4 + static_cast<int>(random() % (vocab - 4));
  return tokens;
}

int Run(const std::string& label, const ModelConfig& config, const BenchOptions& options) {
  auto created = DecoderModel::Create(config);
  if (!created.ok() || !(*created)->InitializeRandom(1).ok()) {
    std::cerr << "cannot create model: " << created.status() << "\n";
    return 1;
  }
  DecoderModel& model = **created;
  std::mt19937 random(7);
  std::printf("%s: %.1fM parameters (hidden %ld, layers %ld, heads %ld/%ld, intermediate %ld, vocab %ld), %d threads\n",
              label.c_str(), config.NumParameters() / 1e6, config.hidden_size, config.num_hidden_layers,
              config.num_attention_heads, config.num_key_value_heads, config.intermediate_size, config.vocab_size,
              at::get_num_threads());

  // Prefill: one prompt, no new tokens beyond the first.
  EngineRequest prefill;
  prefill.prompt_ids = RandomTokens(random, options.prompt_tokens, config.vocab_size);
  prefill.max_new_tokens = 1;
  const double prefill_seconds = BestOf(options.repeats, [&] { (void)GenerateOffline(model, {prefill}, {}); });
  std::printf("  prefill  batch 1, %4d tokens      : %9.0f tokens/s\n", options.prompt_tokens,
              options.prompt_tokens / prefill_seconds);

  for (int batch : {1, 8}) {
    std::vector<EngineRequest> requests(batch);
    for (auto& request : requests) {
      request.prompt_ids = RandomTokens(random, 8, config.vocab_size);
      request.max_new_tokens = options.decode_tokens;
      request.stop_at_eos = false;
    }
    std::vector<EngineRequest> short_requests = requests;
    for (auto& request : short_requests) request.max_new_tokens = 1;
    // Decode rate = (time for N tokens - time for the prefill and first token) / (N - 1) steps.
    const double full = BestOf(options.repeats, [&] { (void)GenerateOffline(model, requests, {}); });
    const double first = BestOf(options.repeats, [&] { (void)GenerateOffline(model, short_requests, {}); });
    const double decode_tokens = static_cast<double>(batch) * (options.decode_tokens - 1);
    std::printf("  decode   batch %d, %4d new tokens  : %9.0f tokens/s\n", batch, options.decode_tokens,
                decode_tokens / (full - first));
  }

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
  (void)(*trainer)->Step({*batch});  // warm-up: allocates optimizer state
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < options.train_steps; ++step) (void)(*trainer)->Step({*batch});
  const double train_seconds = Seconds(start);
  std::printf("  training batch %d x %d tokens      : %9.0f tokens/s (forward + backward + AdamW)\n",
              options.train_batch, options.train_sequence,
              static_cast<double>(batch->tokens_in_batch) * options.train_steps / train_seconds);
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
  for (auto [flag, field] : {std::pair{"--hidden", &custom.hidden_size}, std::pair{"--layers", &custom.num_hidden_layers},
                             std::pair{"--heads", &custom.num_attention_heads},
                             std::pair{"--kv-heads", &custom.num_key_value_heads},
                             std::pair{"--intermediate", &custom.intermediate_size}, std::pair{"--vocab", &custom.vocab_size}}) {
    app.add_option(flag, *field)->each([&](const std::string&) { use_custom = true; });
  }
  app.add_option("--prompt-tokens", options.prompt_tokens);
  app.add_option("--decode-tokens", options.decode_tokens);
  app.add_option("--train-batch", options.train_batch);
  app.add_option("--train-sequence", options.train_sequence);
  app.add_option("--train-steps", options.train_steps);
  CLI11_PARSE(app, argc, argv);
  promptintern::SetComputeThreads(threads);

  if (use_custom) return promptintern::Run("custom", custom, options);
  ModelConfig tiny = custom;
  tiny.hidden_size = 128;
  tiny.intermediate_size = 344;
  tiny.num_hidden_layers = 4;
  tiny.num_attention_heads = 4;
  tiny.num_key_value_heads = 2;
  tiny.vocab_size = 1024;
  ModelConfig small = custom;
  small.hidden_size = 512;
  small.intermediate_size = 1376;
  small.num_hidden_layers = 8;
  small.num_attention_heads = 8;
  small.num_key_value_heads = 4;
  small.vocab_size = 4096;
  if (int rc = promptintern::Run("tiny", tiny, options); rc != 0) return rc;
  return promptintern::Run("25M", small, options);
}
