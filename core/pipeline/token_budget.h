// Training-token budgets: how many optimizer steps a job may take so that its fine-tuning reads a
// given number of tokens. A step's cost in tokens depends on its stage (a full-prompt step reads
// template, examples and query; a query-only step a few dozen tokens), so equal steps are not equal
// work: experiments compare methods at equal steps, equal tokens, or both (core/experiment).
//
// The estimate renders a seeded sample of training pairs exactly as the pipeline does for each
// stage (same tokenizer: the base model's, or the BPE tokenizer trained on the same corpus; same
// retrieval; same truncation to training.max_length) and counts their tokens. The one
// approximation is the compressed template: its length depends on the model that scores it, so the
// estimate keeps the same number of template tokens chosen at random. The pipeline reports the
// tokens it actually trained on (report.json's train_tokens), which is the figure to compare.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pipeline/job_spec.h"

namespace promptintern {

// Mean real tokens per optimizer step (batch_size x gradient_accumulation sequences) of each stage
// of `spec`'s schedule, over `sample_size` training pairs drawn with a fixed seed.
absl::StatusOr<std::vector<double>> EstimateTokensPerStep(const JobSpec& spec, int sample_size = 256);

// The training.steps whose estimated fine-tuning tokens come closest to `token_budget`, with the
// steps split between stages as the pipeline splits them (BuildStages). `tokens_per_step` is
// EstimateTokensPerStep's answer for `schedule`. At least one step per stage.
absl::StatusOr<int64_t> StepsForTokenBudget(const ScheduleSpec& schedule, const std::vector<double>& tokens_per_step,
                                            int64_t token_budget);

// Estimated fine-tuning tokens of `total_steps` steps under `schedule`.
absl::StatusOr<double> EstimatedTokens(const ScheduleSpec& schedule, const std::vector<double>& tokens_per_step,
                                       int64_t total_steps);

}  // namespace promptintern
