#include "core/jobs/publish_run.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/pipeline/run_report.h"
#include "core/tokenizer/tokenizer.h"

namespace promptintern {

absl::StatusOr<PublishResult> PublishRun(ModelRegistry& registry, const std::string& model_name,
                                         const JobSpec& spec, const PipelineReport& report,
                                         const std::string& run_id) {
  ManifestInfo info;
  info.base_model = spec.model.from_scratch ? "scratch" : spec.model.base;
  info.tokenizer = TokenizerFileIn(report.final_model_dir);
  info.job_id = run_id;
  info.created_at = absl::Now();
  // The same record as report.json's stages, so a version's manifest reads like its run; the
  // validation answers stay in the run directory (they would make every manifest as big as a run).
  for (const StageReport& stage : report.stages) {
    nlohmann::json entry = StageReportToJson(stage);
    entry["validation"].erase("predictions");
    info.stage_metrics.push_back(std::move(entry));
  }
  info.schedule = {{"kind", std::string(ScheduleKindName(spec.schedule.kind))},
                   {"stages", spec.schedule.num_stages},
                   {"steps", spec.training.steps}};
  nlohmann::json tokens = nlohmann::json::object();
  for (const ModeReport& mode : report.modes) tokens[mode.mode + "_input_tokens"] = mode.mean_input_tokens;
  tokens["template_tokens"] = report.template_tokens;
  info.token_statistics = tokens;
  if (report.promotion) info.extra["promotion"] = PromotionCheckToJson(*report.promotion);
  PublishOptions options;
  options.idempotency_key = run_id;
  return registry.Publish(model_name, report.final_model_dir, info, options);
}

absl::Status ApplyPromotion(ModelRegistry& registry, const std::string& model_name, int64_t version,
                            const PromotionCheck& check, const std::string& actor) {
  absl::StatusOr<std::vector<AliasMove>> log = registry.AuditLog(model_name);
  if (!log.ok()) return log.status();
  for (const AliasMove& move : *log) {
    const bool decided = move.refused_version ? *move.refused_version == version : move.to_version == version;
    if (move.alias == check.alias && decided) return absl::OkStatus();
  }
  if (check.passed) return registry.SetAlias(model_name, check.alias, version, actor, check.reason).status();
  return registry.RecordRefusedPromotion(model_name, check.alias, version, actor, check.reason).status();
}

Publisher RegistryPublisher(ModelRegistry* registry) {
  return [registry](const JobRecord& job, const JobSpec& spec,
                    const PipelineReport& report) -> absl::StatusOr<PublishedVersion> {
    absl::StatusOr<PublishResult> published = PublishRun(*registry, spec.name, spec, report, job.id);
    if (!published.ok()) return published.status();
    PublishedVersion result{spec.name, published->version, report.promotion};
    if (report.promotion) {
      const absl::Status applied =
          ApplyPromotion(*registry, spec.name, published->version, *report.promotion, "job " + job.id);
      if (!applied.ok()) {
        return absl::Status(applied.code(), absl::StrCat("published ", spec.name, "@", published->version,
                                                         " but could not apply its promotion gate: ", applied.message()));
      }
    }
    return result;
  };
}

std::function<absl::StatusOr<std::string>(const std::string&)> RegistryReferenceOpener(ModelRegistry* registry) {
  return [registry](const std::string& reference) -> absl::StatusOr<std::string> {
    absl::StatusOr<OpenedVersion> opened = registry->Open(reference);
    if (!opened.ok()) return opened.status();
    return opened->directory;
  };
}

}  // namespace promptintern
