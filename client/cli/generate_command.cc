#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/cli/commands.h"
#include "client/cli/connection_flags.h"
#include "client/lib/inference_client.h"
#include "core/checkpoint/checkpoint.h"
#include "core/model/decoder.h"
#include "core/serve/output_processor.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"
#include "core/util/threads.h"

namespace promptintern::cli {
namespace {

struct GenerateFlags {
  std::string model_dir;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;  // "ID ID ...": ids in, no tokenizer needed
  bool print_ids = false;                  // print the generated ids instead of the text
  int max_tokens = 128;
  double temperature = 0.0;
  double top_p = 1.0;
  int top_k = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  int threads = 0;
  std::string weights;  // f32, bf16, f16, int8; empty: the checkpoint's dtype
  ConnectionFlags server;  // address set: ask the inference service instead of loading a model
  std::string mode = "query_only";
};

absl::StatusOr<std::string> RunRemoteGenerate(const GenerateFlags& flags) {
  if (!flags.prompt.has_value()) return absl::InvalidArgumentError("--prompt is required with --server");
  v1::GenerateRequest request;
  request.set_query(*flags.prompt);
  request.set_max_tokens(flags.max_tokens);
  request.set_temperature(flags.temperature);
  request.set_top_p(flags.top_p);
  request.set_top_k(flags.top_k);
  request.set_seed(flags.seed);
  for (const std::string& stop : flags.stop) request.add_stop(stop);
  if (flags.mode == "full") request.set_prompt_mode(v1::PROMPT_MODE_FULL);
  if (flags.mode == "compressed") request.set_prompt_mode(v1::PROMPT_MODE_COMPRESSED);
  ASSIGN_OR_RETURN(Connection connection, OpenConnection(flags.server));
  InferenceClient client(std::move(connection));
  ASSIGN_OR_RETURN(v1::GenerateResponse response, client.Generate(request));
  const v1::Usage& usage = response.usage();
  std::fprintf(stderr, "%s@%ld: %ld input tokens (full prompt: %ld, saved %ld), %ld output tokens, $%.8f (full prompt: $%.8f), %.1f ms\n",
               response.model().c_str(), response.model_version(), usage.input_tokens(), usage.baseline_input_tokens(),
               usage.saved_input_tokens(), usage.output_tokens(), usage.cost_usd(), usage.baseline_cost_usd(),
               1000 * response.timings().total_seconds());
  return response.text();
}

absl::StatusOr<std::vector<int>> ParsePromptIds(const std::string& text) {
  std::vector<int> ids;
  for (absl::string_view piece : absl::StrSplit(text, absl::ByAnyChar(" ,\t\n"), absl::SkipEmpty())) {
    int id = 0;
    if (!absl::SimpleAtoi(piece, &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--prompt-ids: '", piece, "' is not a token id"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--prompt-ids: no ids given");
  return ids;
}

absl::StatusOr<std::string> RunGenerate(const GenerateFlags& flags) {
  if (!flags.server.options.address.empty()) return RunRemoteGenerate(flags);
  SetComputeThreads(flags.threads);
  std::optional<WeightFormat> weights;
  if (!flags.weights.empty()) {
    absl::StatusOr<WeightFormat> parsed = ParseWeightFormat(flags.weights);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--weights: ", parsed.status().message()));
    weights = *parsed;
  }
  // With a tokenizer the model stops at its EOS set too; ids in, ids out needs none.
  Checkpoint checkpoint;
  if (flags.prompt_ids.has_value() && TokenizerFileIn(flags.model_dir).empty()) {
    ASSIGN_OR_RETURN(checkpoint.model, LoadModelForServing(flags.model_dir, weights));
  } else {
    ASSIGN_OR_RETURN(checkpoint, LoadCheckpointForServing(flags.model_dir, weights));
  }
  const DecoderModel& model = *checkpoint.model;
  const Tokenizer* tokenizer = checkpoint.tokenizer.get();

  EngineRequest request;
  if (flags.prompt_ids.has_value()) {
    if (!flags.stop.empty()) return absl::InvalidArgumentError("--stop needs a tokenizer: use --prompt, not --prompt-ids");
    ASSIGN_OR_RETURN(request.prompt_ids, ParsePromptIds(*flags.prompt_ids));
  } else {
    ASSIGN_OR_RETURN(request.prompt_ids, tokenizer->EncodePrompt(flags.prompt.value_or("")));
    if (request.prompt_ids.empty()) {
      return absl::InvalidArgumentError("give a non-empty --prompt: this tokenizer puts no BOS before a prompt");
    }
  }
  request.max_new_tokens = flags.max_tokens;
  request.sampling = {flags.temperature, flags.top_k, flags.top_p, flags.seed};
  OutputOptions output;
  output.tokenizer = flags.prompt_ids.has_value() ? nullptr : tokenizer;
  output.stop_strings = flags.stop;
  ASSIGN_OR_RETURN(std::vector<GenerationOutput> results, GenerateOffline(model, {request}, output));
  const GenerationOutput& result = results.front();
  if (flags.print_ids || flags.prompt_ids.has_value()) return absl::StrJoin(result.token_ids, " ");
  return result.text;
}

}  // namespace

void RegisterGenerateCommand(CLI::App& app, std::function<int()>* run) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* command = app.add_subcommand("generate", "Generate text from a local model directory");
  CLI::Option* model = command->add_option("--model", flags->model_dir, "Hugging Face checkpoint directory");
  CLI::Option* server = AddConnectionFlags(command, &flags->server, "Inference service address (instead of --model)");
  model->excludes(server);
  command->add_option("--mode", flags->mode, "With --server: query_only, full or compressed")
      ->check(CLI::IsMember({"query_only", "full", "compressed"}));
  CLI::Option* prompt = command->add_option("--prompt", flags->prompt, "Prompt text (default: generate from BOS)");
  command->add_option("--prompt-ids", flags->prompt_ids, "Prompt as token ids (\"ID ID ...\"), without a tokenizer")
      ->excludes(prompt)
      ->excludes(server);
  command->add_flag("--print-ids", flags->print_ids, "Print the generated token ids instead of the text");
  command->add_option("--max-tokens", flags->max_tokens, "Maximum new tokens")->check(CLI::Range(0, 1 << 20));
  command->add_option("--temperature", flags->temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  command->add_option("--top-p", flags->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  command->add_option("--top-k", flags->top_k, "Sample among the k most likely tokens (0 = all)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--seed", flags->seed, "Sampling seed");
  command->add_option("--stop", flags->stop, "Stop string (repeatable)");
  command->add_option("--threads", flags->threads, "Compute threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  command->add_option("--weights", flags->weights,
                      "With --model: serving weights f32, bf16, f16 or int8 (default: the checkpoint's dtype)");
  command->callback([flags, run] {
    *run = [flags] {
      if (flags->model_dir.empty() && flags->server.options.address.empty()) {
        std::cerr << "promptintern generate: give --model DIR or --server ADDR\n";
        return 2;
      }
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
