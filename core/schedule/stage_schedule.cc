#include "core/schedule/stage_schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

constexpr double kShareSumTolerance = 1e-6;

constexpr std::pair<ScheduleKind, std::string_view> kKindNames[] = {
    {ScheduleKind::kLinear, "linear"},
    {ScheduleKind::kExponential, "exponential"},
    {ScheduleKind::kInverseExponential, "inverse_exponential"},
    {ScheduleKind::kExplicit, "explicit"},
    {ScheduleKind::kFullPrompt, "full_prompt"},
    {ScheduleKind::kQueryOnly, "query_only"},
    {ScheduleKind::kTemplateOnly, "template_only"},
};

double ExponentialShape(double t, double alpha) {
  const double floor = std::exp(-alpha);
  return (std::exp(-alpha * t) - floor) / (1.0 - floor);
}

double Shape(ScheduleKind kind, double t, double alpha) {
  switch (kind) {
    case ScheduleKind::kExponential:
      return ExponentialShape(t, alpha);
    case ScheduleKind::kInverseExponential:
      return 1.0 - ExponentialShape(1.0 - t, alpha);
    default:
      return 1.0 - t;
  }
}

double Clamp01(double x) { return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x); }

bool IsCurved(ScheduleKind kind) {
  return kind == ScheduleKind::kLinear || kind == ScheduleKind::kExponential ||
         kind == ScheduleKind::kInverseExponential;
}

absl::Status ValidateExplicitLists(const ScheduleSpec& spec) {
  const size_t n = spec.keep_ratios.size();
  if (n == 0) {
    return absl::InvalidArgumentError("schedule.keep_ratios: must list at least one stage");
  }
  if (spec.num_examples.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "schedule.num_examples: has %d entries but schedule.keep_ratios has %d",
        spec.num_examples.size(), n));
  }
  if (static_cast<size_t>(spec.num_stages) != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schedule.num_stages: %d does not match the %d entries of "
                        "schedule.keep_ratios",
                        spec.num_stages, n));
  }
  for (size_t s = 0; s < n; ++s) {
    const double r = spec.keep_ratios[s];
    if (!(r >= 0.0 && r <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("schedule.keep_ratios[%d]: %g is outside [0, 1]", s, r));
    }
    if (s > 0 && r > spec.keep_ratios[s - 1]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "schedule.keep_ratios[%d]: %g exceeds the previous stage's %g; the template "
          "may only shrink from stage to stage",
          s, r, spec.keep_ratios[s - 1]));
    }
    const int k = spec.num_examples[s];
    if (k < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("schedule.num_examples[%d]: %d is negative", s, k));
    }
    if (s > 0 && k > spec.num_examples[s - 1]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "schedule.num_examples[%d]: %d exceeds the previous stage's %d; examples may "
          "only be removed from stage to stage",
          s, k, spec.num_examples[s - 1]));
    }
  }
  if (spec.keep_ratios.back() != 0.0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "schedule.keep_ratios[%d]: %g, but the last stage must be query-only (0)", n - 1,
        spec.keep_ratios.back()));
  }
  if (spec.num_examples.back() != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "schedule.num_examples[%d]: %d, but the last stage must be query-only (0)", n - 1,
        spec.num_examples.back()));
  }
  return absl::OkStatus();
}

absl::Status ValidateShares(const std::vector<double>& shares) {
  double sum = 0.0;
  for (size_t s = 0; s < shares.size(); ++s) {
    if (!(std::isfinite(shares[s]) && shares[s] > 0.0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "schedule.step_shares[%d]: %g must be positive and finite", s, shares[s]));
    }
    sum += shares[s];
  }
  if (std::abs(sum - 1.0) > kShareSumTolerance) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "schedule.step_shares: entries sum to %.9g, not 1 (tolerance %g)", sum,
        kShareSumTolerance));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ScheduleKind> ParseScheduleKind(std::string_view name) {
  for (const auto& [kind, kind_name] : kKindNames) {
    if (kind_name == name) return kind;
  }
  std::string known;
  for (const auto& [kind, kind_name] : kKindNames) {
    absl::StrAppend(&known, known.empty() ? "" : ", ", std::string(kind_name));
  }
  return absl::InvalidArgumentError(absl::StrCat("schedule.kind: unknown kind \"",
                                                 std::string(name), "\"; expected one of ",
                                                 known));
}

std::string_view ScheduleKindName(ScheduleKind kind) {
  for (const auto& [known_kind, kind_name] : kKindNames) {
    if (known_kind == kind) return kind_name;
  }
  return "unknown";
}

absl::Status ValidateScheduleSpec(const ScheduleSpec& spec) {
  if (spec.num_stages < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schedule.num_stages: %d must be at least 1", spec.num_stages));
  }
  if (spec.kind == ScheduleKind::kExplicit) {
    RETURN_IF_ERROR(ValidateExplicitLists(spec));
  } else if (spec.max_examples < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schedule.max_examples: %d is negative", spec.max_examples));
  }
  if ((spec.kind == ScheduleKind::kExponential ||
       spec.kind == ScheduleKind::kInverseExponential) &&
      !(std::isfinite(spec.alpha) && spec.alpha > 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schedule.alpha: %g must be positive and finite", spec.alpha));
  }
  if (!spec.step_shares.empty()) {
    if (spec.step_shares.size() != static_cast<size_t>(spec.num_stages)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("schedule.step_shares: has %d entries for %d stages",
                          spec.step_shares.size(), spec.num_stages));
    }
    RETURN_IF_ERROR(ValidateShares(spec.step_shares));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Stage>> BuildStageShapes(const ScheduleSpec& spec) {
  RETURN_IF_ERROR(ValidateScheduleSpec(spec));
  const int num_stages = spec.num_stages;
  std::vector<Stage> stages(num_stages);
  for (int s = 0; s < num_stages; ++s) {
    Stage& stage = stages[s];
    stage.index = s;
    if (spec.kind == ScheduleKind::kExplicit) {
      stage.keep_ratio = spec.keep_ratios[s];
      stage.num_examples = spec.num_examples[s];
    } else if (IsCurved(spec.kind)) {
      const bool last = s == num_stages - 1;
      // The endpoints are pinned rather than computed so floating point cannot leave a
      // sliver of template in the query-only stage.
      const double value =
          last ? 0.0 : (s == 0 ? 1.0 : Clamp01(Shape(spec.kind,
                                                     static_cast<double>(s) / (num_stages - 1),
                                                     spec.alpha)));
      stage.keep_ratio = value;
      stage.num_examples = static_cast<int>(std::lround(spec.max_examples * value));
    } else if (spec.kind == ScheduleKind::kFullPrompt) {
      stage.keep_ratio = 1.0;
      stage.num_examples = spec.max_examples;
    } else if (spec.kind == ScheduleKind::kTemplateOnly) {
      stage.keep_ratio = 1.0;
      stage.num_examples = 0;
    } else {  // kQueryOnly
      stage.keep_ratio = 0.0;
      stage.num_examples = 0;
    }
  }
  return stages;
}

absl::StatusOr<std::vector<int64_t>> SplitSteps(int64_t total_steps,
                                                const std::vector<double>& shares) {
  if (total_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("total_steps: %d is negative", total_steps));
  }
  if (shares.empty()) {
    return absl::InvalidArgumentError("schedule.step_shares: no stages to split steps over");
  }
  RETURN_IF_ERROR(ValidateShares(shares));
  double sum = 0.0;
  for (double share : shares) sum += share;

  const double total = static_cast<double>(total_steps);
  std::vector<int64_t> steps(shares.size());
  double cumulative = 0.0;
  int64_t assigned = 0;
  for (size_t s = 0; s < shares.size(); ++s) {
    cumulative += shares[s] / sum;
    const int64_t boundary = s + 1 == shares.size()
                                 ? total_steps
                                 : std::min<int64_t>(total_steps, std::llround(total * cumulative));
    // Rounding error in the running sum could in principle step backwards; never let a
    // stage go negative.
    steps[s] = std::max<int64_t>(0, boundary - assigned);
    assigned += steps[s];
  }
  return steps;
}

absl::StatusOr<std::vector<Stage>> BuildStages(const ScheduleSpec& spec, int64_t total_steps) {
  ASSIGN_OR_RETURN(std::vector<Stage> stages, BuildStageShapes(spec));
  std::vector<double> shares = spec.step_shares;
  if (shares.empty()) shares.assign(stages.size(), 1.0 / static_cast<double>(stages.size()));
  ASSIGN_OR_RETURN(std::vector<int64_t> steps, SplitSteps(total_steps, shares));
  for (size_t s = 0; s < stages.size(); ++s) {
    if (steps[s] == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "total_steps: %d is too few; stage %d (share %g) would get no steps", total_steps,
          s, shares[s]));
    }
    stages[s].steps = steps[s];
  }
  return stages;
}

}  // namespace promptintern
