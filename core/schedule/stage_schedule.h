// Progressive fine-tuning stages: how much of the template (keep ratio r_s) and how many
// few-shot examples (k_s) each stage's training prompts carry, and how many optimizer
// steps each stage runs.
//
// With S stages, stage s (0-based) sits at t_s = s / (S - 1) (t = 1 when S = 1), and the
// curved kinds use a shape f with f(0) = 1, f(1) = 0:
//   linear               f(t) = 1 - t
//   exponential          f(t) = (exp(-alpha t) - exp(-alpha)) / (1 - exp(-alpha))
//                        (drops fast early; alpha > 0, default 3)
//   inverse_exponential  f(t) = 1 - fexp(1 - t), fexp being the exponential shape
//                        (the mirror image: drops slowly early, fast late)
// and then r_s = f(t_s), k_s = round(K * f(t_s)) with halves rounded away from zero
// (K = max_examples). Stage 0 is the full prompt (r = 1, k = K) and the last stage is
// query-only (r = 0, k = 0), which is what PromptIntern trains towards.
//   explicit             r_s = keep_ratios[s], k_s = num_examples[s]; both lists have S
//                        entries, r in [0, 1] and non-increasing, k >= 0 and
//                        non-increasing, and the last stage must be r = 0, k = 0.
// Baselines, the same at every stage (S may be any positive count, usually 1):
//   full_prompt r = 1, k = K;  query_only r = 0, k = 0;  template_only r = 1, k = 0.
//
// The default spec is explicit with r = {1, 0.6, 0.3, 0} and k = {5, 3, 1, 0}.
//
// Steps: stage s gets share w_s of total_steps. An empty step_shares means equal shares;
// an explicit list must hold S positive finite entries that sum to 1 within 1e-6 (a list
// that doesn't is rejected rather than rescaled, since it is more likely a typo than an
// intent); it is then divided by its sum to absorb that slack. The integer split rounds
// cumulative shares, steps_s = round(T * c_s) - round(T * c_{s-1}) with c_s = w_0 + ... +
// w_s and c_{S-1} = 1 exactly, so the counts sum to T exactly and each is within one
// step of T * w_s. A stage that would get zero steps is an error.
//
// Errors are InvalidArgument and name the offending field with a "schedule." prefix, e.g.
// "schedule.keep_ratios[2]: 1.5 is outside [0, 1]".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

enum class ScheduleKind {
  kLinear,
  kExponential,
  kInverseExponential,
  kExplicit,
  kFullPrompt,
  kQueryOnly,
  kTemplateOnly,
};

// "linear", "exponential", "inverse_exponential", "explicit", "full_prompt",
// "query_only", "template_only".
absl::StatusOr<ScheduleKind> ParseScheduleKind(std::string_view name);
std::string_view ScheduleKindName(ScheduleKind kind);

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::kExplicit;
  // S. For kExplicit it must equal the length of the lists below.
  int num_stages = 4;
  // K: the example count of the full prompt. Ignored by kExplicit.
  int max_examples = 5;
  // Steepness of the (inverse) exponential shapes.
  double alpha = 3.0;
  // Used by kExplicit only.
  std::vector<double> keep_ratios = {1.0, 0.6, 0.3, 0.0};
  std::vector<int> num_examples = {5, 3, 1, 0};
  // Empty: equal shares.
  std::vector<double> step_shares;
};

struct Stage {
  int index = 0;
  double keep_ratio = 0.0;
  int num_examples = 0;
  int64_t steps = 0;
};

absl::Status ValidateScheduleSpec(const ScheduleSpec& spec);

// The (keep_ratio, num_examples) of every stage; `steps` is left 0.
absl::StatusOr<std::vector<Stage>> BuildStageShapes(const ScheduleSpec& spec);

// Splits `total_steps` by `shares` as described above. `shares` must be non-empty,
// positive, finite and sum to 1 within 1e-6; total_steps must be >= 0. Zero-step parts
// are allowed here (this is plain arithmetic); BuildStages rejects them.
absl::StatusOr<std::vector<int64_t>> SplitSteps(int64_t total_steps,
                                                const std::vector<double>& shares);

// The complete schedule: shapes plus per-stage steps summing exactly to total_steps.
absl::StatusOr<std::vector<Stage>> BuildStages(const ScheduleSpec& spec, int64_t total_steps);

}  // namespace promptintern
