// The promotion gate of a job (`promote:` in the job file): does dropping the prompt cost more
// quality than the job allows? The pipeline scores the internalized model answering the query alone
// and the reference answering the full prompt on the same validation examples; this file turns the
// two scores into the decision, and into the record kept in report.json and in the version's
// manifest (extra.promotion), so a reader of the registry sees why an alias did or did not move.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eval/inference_eval.h"
#include "core/pipeline/job_spec.h"
#include <nlohmann/json.hpp>

namespace promptintern {

// promote.metric's choices: exact match and BLEU, which every ModeReport carries, and the task's
// own metric (TaskMetric::name) when it has one.
std::vector<std::string> PromotionMetricNames(std::string_view task_metric);

struct PromotionCheck {
  std::string alias;
  std::string reference;  // as promote.reference: full_prompt, base or NAME@VERSION|ALIAS
  std::string metric;
  int64_t examples = 0;         // validation examples both were scored on
  double candidate = 0.0;       // the internalized model, query only
  double reference_score = 0.0; // the reference, full prompt
  double drop = 0.0;            // reference_score - candidate
  double max_drop = 0.0;
  bool passed = false;
  std::string reason;  // one line saying why, for the job's events and the audit log
};

// `metric` of a mode's report; INVALID_ARGUMENT naming it when the report does not carry it.
absl::StatusOr<double> PromotionMetricOf(const ModeReport& report, const std::string& metric);

// Passes when drop <= max_drop; a score that is not a number (nothing evaluated) never passes.
absl::StatusOr<PromotionCheck> DecidePromotion(const PromoteSpec& promote, const ModeReport& candidate,
                                               const ModeReport& reference);

nlohmann::json PromotionCheckToJson(const PromotionCheck& check);
// DATA_LOSS for an object PromotionCheckToJson did not write.
absl::StatusOr<PromotionCheck> PromotionCheckFromJson(const nlohmann::json& json);

}  // namespace promptintern
