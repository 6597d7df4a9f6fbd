#include "core/pipeline/promotion.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/json_fields.h"

namespace promptintern {

std::vector<std::string> PromotionMetricNames(std::string_view task_metric) {
  std::vector<std::string> names = {"exact_match", "bleu"};
  if (!task_metric.empty()) names.emplace_back(task_metric);
  return names;
}

absl::StatusOr<double> PromotionMetricOf(const ModeReport& report, const std::string& metric) {
  if (metric == "exact_match") return report.exact_match;
  if (metric == "bleu") return report.bleu;
  if (!metric.empty() && metric == report.task_metric) return report.task_score;
  return absl::InvalidArgumentError(absl::StrCat("promote.metric: the evaluation has no metric \"", metric, "\""));
}

absl::StatusOr<PromotionCheck> DecidePromotion(const PromoteSpec& promote, const ModeReport& candidate,
                                               const ModeReport& reference) {
  PromotionCheck check;
  check.alias = promote.alias;
  check.reference = promote.reference;
  check.metric = promote.metric;
  check.examples = candidate.requests;
  check.max_drop = promote.max_drop;
  absl::StatusOr<double> candidate_score = PromotionMetricOf(candidate, promote.metric);
  if (!candidate_score.ok()) return candidate_score.status();
  absl::StatusOr<double> reference_score = PromotionMetricOf(reference, promote.metric);
  if (!reference_score.ok()) return reference_score.status();
  check.candidate = *candidate_score;
  check.reference_score = *reference_score;
  check.drop = check.reference_score - check.candidate;
  // NaN compares false: an evaluation that scored nothing cannot promote.
  check.passed = check.drop <= check.max_drop;
  check.reason = absl::StrFormat(
      "%s: query-only %.4g vs %s with the full prompt %.4g over %d examples: drop %.4g %s max_drop %.4g; %s \"%s\"",
      check.metric, check.candidate, check.reference, check.reference_score, check.examples, check.drop,
      check.passed ? "<=" : (std::isnan(check.drop) ? "not comparable with" : ">"), check.max_drop,
      check.passed ? "promoted to" : "not promoted to", check.alias);
  return check;
}

nlohmann::json PromotionCheckToJson(const PromotionCheck& check) {
  return {{"alias", check.alias},
          {"reference", check.reference},
          {"metric", check.metric},
          {"examples", check.examples},
          {"candidate", JsonNumber(check.candidate)},
          {"reference_score", JsonNumber(check.reference_score)},
          {"drop", JsonNumber(check.drop)},
          {"max_drop", JsonNumber(check.max_drop)},
          {"passed", check.passed},
          {"reason", check.reason}};
}

absl::StatusOr<PromotionCheck> PromotionCheckFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::DataLossError("promotion: not an object");
  const JsonFields fields(json);
  PromotionCheck check;
  for (const absl::Status& read :
       {fields.Require("alias", &check.alias), fields.Require("reference", &check.reference),
        fields.Require("metric", &check.metric), fields.Require("examples", &check.examples),
        fields.Require("passed", &check.passed), fields.Require("reason", &check.reason),
        fields.Require("candidate", &check.candidate), fields.Require("reference_score", &check.reference_score),
        fields.Require("drop", &check.drop), fields.Require("max_drop", &check.max_drop)}) {
    if (!read.ok()) return absl::DataLossError(absl::StrCat("promotion: ", read.message()));
  }
  return check;
}

}  // namespace promptintern
