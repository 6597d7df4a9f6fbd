#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "client/cli/commands.h"
#include "core/checkpoint/checkpoint.h"
#include "core/generate/generator.h"
#include "core/model/llama.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"
#include "core/util/threads.h"

namespace promptintern::cli {
namespace {

struct GenerateFlags {
  std::string model_dir;
  std::optional<std::string> prompt;
  int max_tokens = 128;
  double temperature = 0.0;
  double top_p = 1.0;
  int top_k = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  int threads = 0;
};

absl::StatusOr<std::string> RunGenerate(const GenerateFlags& flags) {
  SetComputeThreads(flags.threads);
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LoadModel(flags.model_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::Load(JoinPath(flags.model_dir, kTokenizerFile)));

  GenerationRequest request;
  request.prompt_ids.push_back(tokenizer->bos_id());
  if (flags.prompt.has_value()) {
    ASSIGN_OR_RETURN(std::vector<int> ids, tokenizer->Encode(*flags.prompt));
    request.prompt_ids.insert(request.prompt_ids.end(), ids.begin(), ids.end());
  }
  request.max_new_tokens = flags.max_tokens;
  request.sampling = {flags.temperature, flags.top_k, flags.top_p, flags.seed};
  request.stop_strings = flags.stop;
  ASSIGN_OR_RETURN(std::vector<GenerationResult> results, Generate(*model, tokenizer.get(), {request}));
  return results.front().text;
}

}  // namespace

void RegisterGenerateCommand(CLI::App& app, std::function<int()>* run) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* command = app.add_subcommand("generate", "Generate text from a local model directory");
  command->add_option("--model", flags->model_dir, "Hugging Face checkpoint directory")->required();
  command->add_option("--prompt", flags->prompt, "Prompt text (default: generate from BOS)");
  command->add_option("--max-tokens", flags->max_tokens, "Maximum new tokens")->check(CLI::Range(0, 1 << 20));
  command->add_option("--temperature", flags->temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  command->add_option("--top-p", flags->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  command->add_option("--top-k", flags->top_k, "Sample among the k most likely tokens (0 = all)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--seed", flags->seed, "Sampling seed");
  command->add_option("--stop", flags->stop, "Stop string (repeatable)");
  command->add_option("--threads", flags->threads, "Compute threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  command->callback([flags, run] {
    *run = [flags] {
      absl::StatusOr<std::string> text = RunGenerate(*flags);
      if (!text.ok()) {
        std::cerr << "promptintern generate: " << text.status().message() << "\n";
        return 1;
      }
      std::cout << *text << std::endl;
      return 0;
    };
  });
}

}  // namespace promptintern::cli
