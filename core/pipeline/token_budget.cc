#include "core/pipeline/token_budget.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/compress/template_compression.h"
#include "core/pipeline/task_builder.h"
#include "core/task/prompt_builder.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/random.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

constexpr uint64_t kSampleSeed = 0x5EEDB0D6E7ULL;

absl::StatusOr<std::unique_ptr<Tokenizer>> JobTokenizer(const JobSpec& spec, const Task& task) {
  if (!spec.model.from_scratch) return Tokenizer::LoadFromDirectory(spec.model.base);
  std::vector<std::string> pretraining;
  if (spec.model.scratch.pretrain_steps > 0) {
    ASSIGN_OR_RETURN(pretraining, ReadCorpusLines(spec.model.scratch.pretrain_corpus));
  }
  BpeTrainingOptions options;
  options.vocab_size = spec.model.scratch.vocab_size;
  return TrainBpeTokenizer(TokenizerCorpus(task, pretraining), options);
}

}  // namespace

absl::StatusOr<std::vector<double>> EstimateTokensPerStep(const JobSpec& spec, int sample_size) {
  if (sample_size < 1) return absl::InvalidArgumentError("the token estimate needs a sample of at least one pair");
  ASSIGN_OR_RETURN(Task task, BuildTask(spec.task));
  if (task.train.empty()) return absl::InvalidArgumentError("the token estimate needs training pairs");
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, JobTokenizer(spec, task));
  ASSIGN_OR_RETURN(std::unique_ptr<PromptBuilder> prompts,
                   PromptBuilder::Create(task.format, task.example_pool, {spec.retrieval.k1, spec.retrieval.b}));
  // Only the number of kept template tokens matters here, not which ones the model would keep.
  const std::string method = spec.compression.method == "none" ? "none" : "random";
  ASSIGN_OR_RETURN(std::unique_ptr<TemplateCompressor> compressor, MakeTemplateCompressor(method, spec.seed, nullptr));
  ASSIGN_OR_RETURN(std::vector<Stage> shapes, BuildStageShapes(spec.schedule));

  std::vector<size_t> sample;
  SplitMix64 random(kSampleSeed);
  for (int i = 0; i < sample_size; ++i) sample.push_back(random.UniformBelow(task.train.size()));
  const double sequences_per_step =
      static_cast<double>(spec.training.batch_size) * static_cast<double>(spec.training.gradient_accumulation);
  std::vector<double> per_step;
  for (const Stage& stage : shapes) {
    ASSIGN_OR_RETURN(CompressedTemplate compressed,
                     CompressTemplate(*compressor, *tokenizer, TemplateText(task), stage.keep_ratio));
    int64_t tokens = 0;
    for (size_t index : sample) {
      const Example& pair = task.train[index];
      ASSIGN_OR_RETURN(std::vector<int> prompt_ids,
                       tokenizer->EncodePrompt(prompts->Render(compressed.text, stage.num_examples, pair.query)));
      ASSIGN_OR_RETURN(std::vector<int> completion_ids, tokenizer->Encode(RenderCompletion(pair.answer)));
      // + EOS, then the truncation CollateBatch applies.
      const int64_t length = static_cast<int64_t>(prompt_ids.size() + completion_ids.size()) + 1;
      tokens += std::min(length, spec.training.max_length);
    }
    per_step.push_back(static_cast<double>(tokens) / static_cast<double>(sample.size()) * sequences_per_step);
  }
  return per_step;
}

absl::StatusOr<double> EstimatedTokens(const ScheduleSpec& schedule, const std::vector<double>& tokens_per_step,
                                       int64_t total_steps) {
  ASSIGN_OR_RETURN(std::vector<Stage> stages, BuildStages(schedule, total_steps));
  if (stages.size() != tokens_per_step.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the schedule has ", stages.size(), " stages but the estimate ",
                                                   tokens_per_step.size()));
  }
  double tokens = 0.0;
  for (size_t s = 0; s < stages.size(); ++s) tokens += static_cast<double>(stages[s].steps) * tokens_per_step[s];
  return tokens;
}

absl::StatusOr<int64_t> StepsForTokenBudget(const ScheduleSpec& schedule, const std::vector<double>& tokens_per_step,
                                            int64_t token_budget) {
  if (token_budget <= 0) return absl::InvalidArgumentError("a token budget must be positive");
  if (tokens_per_step.empty()) return absl::InvalidArgumentError("no stages to spend the token budget on");
  const double cheapest = *std::min_element(tokens_per_step.begin(), tokens_per_step.end());
  if (!(cheapest > 0.0)) return absl::InvalidArgumentError("a stage's steps cost no tokens");
  // The fewest steps that give every stage at least one.
  int64_t low = static_cast<int64_t>(tokens_per_step.size());
  while (!BuildStages(schedule, low).ok()) {
    if (++low > (int64_t{1} << 20)) return absl::InvalidArgumentError("no step count gives every stage a step");
  }
  ASSIGN_OR_RETURN(double low_tokens, EstimatedTokens(schedule, tokens_per_step, low));
  if (low_tokens >= static_cast<double>(token_budget)) return low;
  // Tokens grow with the step count; bisect for the last count within the budget.
  int64_t high = low + static_cast<int64_t>(std::ceil(static_cast<double>(token_budget) / cheapest)) + 1;
  while (high - low > 1) {
    const int64_t middle = low + (high - low) / 2;
    ASSIGN_OR_RETURN(double tokens, EstimatedTokens(schedule, tokens_per_step, middle));
    (tokens <= static_cast<double>(token_budget) ? low : high) = middle;
  }
  ASSIGN_OR_RETURN(double below, EstimatedTokens(schedule, tokens_per_step, low));
  ASSIGN_OR_RETURN(double above, EstimatedTokens(schedule, tokens_per_step, high));
  return static_cast<double>(token_budget) - below <= above - static_cast<double>(token_budget) ? low : high;
}

}  // namespace promptintern
