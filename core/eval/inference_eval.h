// Runs rendered prompts through the serving engine and scores what it produces: accuracy (exact
// match, BLEU-4 and the task's own metric, if any), input and output tokens per request with the model's tokenizer,
// latency per request (one request at a time, as a caller of the service would see it) and cost
// at configurable prices. It is the same engine that serves, so evaluation measures the decode
// path that production runs.
// A prompt that does not fit the context with max_new_tokens loses tokens from its left (after
// BOS), as training does; input tokens count what was actually sent.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eval/metrics.h"

namespace promptintern {

class Engine;
class Tokenizer;
struct TaskMetric;

struct EvalItem {
  std::string prompt;
  std::string reference;
};

struct EvalOptions {
  int max_new_tokens = 64;
  // Generation also stops at these (e.g. the example separator, so a few-shot prompt's model
  // does not go on to invent the next example).
  std::vector<std::string> stop_strings;
  Prices prices{0.5, 1.5};
  // The task's own metric (its kind's, core/task/task_kind.h); nullptr: exact match and BLEU only.
  const TaskMetric* task_metric = nullptr;
  // Polled before each item; when it returns true the evaluation ends with CANCELLED.
  std::function<bool()> should_stop;
};

struct ModeReport {
  std::string mode;
  int64_t requests = 0;
  double exact_match = 0.0;      // fraction
  double bleu = 0.0;             // 0..100
  std::string task_metric;       // the task's own metric; empty when it has none
  double task_score = 0.0;       // fraction; mean of task_metric over the examples
  double mean_input_tokens = 0.0;
  double mean_output_tokens = 0.0;
  LatencySummary latency;        // seconds
  double cost_per_1k_requests_usd = 0.0;
  std::vector<std::string> predictions;
};

absl::StatusOr<ModeReport> EvaluatePrompts(Engine& engine, const Tokenizer& tokenizer,
                                           const std::vector<EvalItem>& items, const EvalOptions& options,
                                           const std::string& mode);

}  // namespace promptintern
