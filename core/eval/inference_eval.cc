#include "core/eval/inference_eval.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/eval/bleu.h"
#include "core/model/decoder.h"
#include "core/serve/engine.h"
#include "core/serve/output_processor.h"
#include "core/task/task_kind.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"

namespace promptintern {

absl::StatusOr<ModeReport> EvaluatePrompts(Engine& engine, const Tokenizer& tokenizer,
                                           const std::vector<EvalItem>& items, const EvalOptions& options,
                                           const std::string& mode) {
  if (items.empty()) return absl::InvalidArgumentError("evaluation needs at least one item");
  ModeReport report;
  report.mode = mode;
  report.requests = static_cast<int64_t>(items.size());
  std::vector<std::string> references;
  std::vector<double> latencies;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  const int64_t context = engine.model().config().max_position_embeddings;
  OutputOptions output_options;
  output_options.tokenizer = &tokenizer;
  output_options.stop_strings = options.stop_strings;
  for (const EvalItem& item : items) {
    if (options.should_stop && options.should_stop()) {
      return absl::CancelledError(absl::StrCat("evaluation of ", mode, " stopped"));
    }
    EngineRequest request;
    ASSIGN_OR_RETURN(request.prompt_ids, tokenizer.EncodePrompt(item.prompt));
    request.max_new_tokens = options.max_new_tokens;
    // Like training (CollateBatch), an overlong prompt loses tokens from its left, after BOS.
    const int64_t kept_prefix = static_cast<int64_t>(tokenizer.prompt_prefix().size());
    const int64_t room = context - options.max_new_tokens;
    if (room < 2) {
      return absl::InvalidArgumentError(absl::StrCat("max_new_tokens ", options.max_new_tokens,
                                                     " leaves no room for a prompt in the context of ", context));
    }
    const int64_t overflow = static_cast<int64_t>(request.prompt_ids.size()) - room;
    if (overflow > 0) request.prompt_ids.erase(request.prompt_ids.begin() + kept_prefix,
                                             request.prompt_ids.begin() + kept_prefix + overflow);
    const auto start = std::chrono::steady_clock::now();
    const int64_t prompt_tokens = static_cast<int64_t>(request.prompt_ids.size());
    ASSIGN_OR_RETURN(GenerationOutput result, Generate(engine, std::move(request), output_options));
    latencies.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    input_tokens += prompt_tokens;
    output_tokens += static_cast<int64_t>(result.token_ids.size()) +
                     (result.outcome.finish_reason == FinishReason::kEos ? 1 : 0);
    report.predictions.push_back(NormalizeWhitespace(result.text));
    references.push_back(NormalizeWhitespace(item.reference));
  }
  const double count = static_cast<double>(items.size());
  ASSIGN_OR_RETURN(report.exact_match, ExactMatchRate(report.predictions, references));
  ASSIGN_OR_RETURN(const BleuScore bleu, CorpusBleu(report.predictions, references));
  report.bleu = bleu.score;
  if (options.task_metric != nullptr) {
    report.task_metric = options.task_metric->name;
    ASSIGN_OR_RETURN(report.task_score, MeanPairScore(options.task_metric->name, report.predictions, references,
                                                      options.task_metric->score));
  }
  report.mean_input_tokens = static_cast<double>(input_tokens) / count;
  report.mean_output_tokens = static_cast<double>(output_tokens) / count;
  ASSIGN_OR_RETURN(report.latency, SummarizeLatencies(latencies));
  ASSIGN_OR_RETURN(const double cost, CostUsd(options.prices, input_tokens, output_tokens));
  report.cost_per_1k_requests_usd = cost / count * 1000.0;
  return report;
}

}  // namespace promptintern
