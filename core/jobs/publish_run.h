// A finished run's final checkpoint into the model registry, with its schedule, per-stage metrics
// and token statistics in the manifest. The trainer service and `promptintern train` both publish
// through here, so a version looks the same whichever way it was trained.
#pragma once

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

// The JobManager's publisher: each job under its own name, keyed by its job id.
Publisher RegistryPublisher(ModelRegistry* registry);

}  // namespace promptintern
