// A finished run's final checkpoint into the model registry, with its schedule, per-stage metrics
// and token statistics in the manifest. The trainer service and `promptintern train` both publish
// through here, so a version looks the same whichever way it was trained.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "core/jobs/job_manager.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"
#include "core/registry/registry.h"

namespace promptintern {

// Idempotent per `run_id`: publishing the same run again returns the version it already has.
absl::StatusOr<PublishResult> PublishRun(ModelRegistry& registry, const std::string& model_name,
                                         const JobSpec& spec, const PipelineReport& report,
                                         const std::string& run_id);

// A promotion gate's decision on a published version: the alias moves onto it when the gate passed,
// otherwise the refusal and its reason go into the audit log and the alias stays. Once per version:
// publishing a run again (a resumed job) finds the decision already recorded and records nothing.
absl::Status ApplyPromotion(ModelRegistry& registry, const std::string& model_name, int64_t version,
                            const PromotionCheck& check, const std::string& actor);

// The JobManager's publisher: each job under its own name, keyed by its job id, then its
// promotion gate applied (actor "job <id>").
Publisher RegistryPublisher(ModelRegistry* registry);

// PipelineControl::open_reference over a registry: the verified local directory of the version.
std::function<absl::StatusOr<std::string>(const std::string&)> RegistryReferenceOpener(ModelRegistry* registry);

}  // namespace promptintern
