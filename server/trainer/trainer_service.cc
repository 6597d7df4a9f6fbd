#include "server/trainer/trainer_service.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "server/common/grpc_status.h"

namespace promptintern {
namespace {

v1::JobState ToProto(JobState state) {
  switch (state) {
    case JobState::kQueued: return v1::JOB_STATE_QUEUED;
    case JobState::kRunning: return v1::JOB_STATE_RUNNING;
    case JobState::kSucceeded: return v1::JOB_STATE_SUCCEEDED;
    case JobState::kFailed: return v1::JOB_STATE_FAILED;
    case JobState::kCancelled: return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

v1::JobEvent::Kind ToProto(JobEvent::Kind kind) {
  switch (kind) {
    case JobEvent::Kind::kQueued: return v1::JobEvent::KIND_QUEUED;
    case JobEvent::Kind::kStarted: return v1::JobEvent::KIND_STARTED;
    case JobEvent::Kind::kStageStarted: return v1::JobEvent::KIND_STAGE_STARTED;
    case JobEvent::Kind::kProgress: return v1::JobEvent::KIND_PROGRESS;
    case JobEvent::Kind::kEvaluation: return v1::JobEvent::KIND_EVALUATION;
    case JobEvent::Kind::kCheckpoint: return v1::JobEvent::KIND_CHECKPOINT;
    case JobEvent::Kind::kPublished: return v1::JobEvent::KIND_PUBLISHED;
    case JobEvent::Kind::kSucceeded: return v1::JobEvent::KIND_SUCCEEDED;
    case JobEvent::Kind::kFailed: return v1::JobEvent::KIND_FAILED;
    case JobEvent::Kind::kCancelled: return v1::JobEvent::KIND_CANCELLED;
    case JobEvent::Kind::kPromotion: return v1::JobEvent::KIND_PROMOTION;
  }
  return v1::JobEvent::KIND_UNSPECIFIED;
}

void ToProto(const JobRecord& record, v1::Job* job) {
  job->set_job_id(record.id);
  job->set_name(record.name);
  job->set_state(ToProto(record.state));
  job->set_job_yaml(record.yaml);
  job->set_created_unix_ms(record.created_unix_ms);
  job->set_started_unix_ms(record.started_unix_ms);
  job->set_finished_unix_ms(record.finished_unix_ms);
  job->set_stage(record.stage);
  job->set_num_stages(record.num_stages);
  job->set_step(record.step);
  job->set_total_steps(record.total_steps);
  job->set_loss(record.loss);
  job->set_error(record.error);
  job->set_model_name(record.model_name);
  job->set_model_version(record.model_version);
}

void ToProto(const std::string& job_id, const JobEvent& event, v1::JobEvent* out) {
  out->set_job_id(job_id);
  out->set_sequence(event.sequence);
  out->set_kind(ToProto(event.kind));
  out->set_unix_ms(event.unix_ms);
  const PipelineEvent& p = event.pipeline;
  out->set_stage(p.stage);
  out->set_num_stages(p.num_stages);
  out->set_step(p.step);
  out->set_total_steps(p.total_steps);
  out->set_loss(p.loss);
  out->set_learning_rate(p.learning_rate);
  out->set_tokens_per_second(p.tokens_per_second);
  out->set_eta_seconds(p.eta_seconds);
  out->set_keep_ratio(p.keep_ratio);
  out->set_num_examples(p.num_examples);
  for (const auto& [name, value] : p.metrics) (*out->mutable_metrics())[name] = value;
  out->set_message(event.message);
  out->set_model_name(event.model_name);
  out->set_model_version(event.model_version);
}

void ToProto(const Manifest& manifest, const std::map<std::string, int64_t>& aliases, v1::ModelVersion* out) {
  out->set_name(manifest.model_name);
  out->set_version(manifest.version);
  for (const ManifestFile& file : manifest.files) {
    v1::ModelFile* entry = out->add_files();
    entry->set_path(file.name);
    entry->set_sha256(file.sha256);
    entry->set_size_bytes(static_cast<int64_t>(file.size));
  }
  out->set_base_model(manifest.base_model);
  out->set_job_id(manifest.job_id);
  out->set_created_at(manifest.created_at);
  auto json = manifest.ToJson();
  if (json.ok()) out->set_manifest_json(json->dump());
  for (const auto& [alias, version] : aliases) {
    if (version == manifest.version) out->add_aliases(alias);
  }
}

void ToProto(const RegistryProblem& problem, v1::RegistryProblem* out) {
  out->set_key(problem.key);
  out->set_version(problem.version);
  out->set_message(problem.message);
}

}  // namespace

grpc::Status TrainerServiceImpl::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request, v1::Job* job) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  std::string yaml = request->job_yaml();
  if (yaml.empty() && request->has_job()) {
    // JSON is YAML: the structured form goes through the same parser and validation.
    if (!google::protobuf::util::MessageToJsonString(request->job(), &yaml).ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "job: cannot convert the structured job to JSON");
    }
  }
  if (yaml.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "neither job_yaml nor job is given");
  absl::StatusOr<JobRecord> record = jobs_->Submit(yaml, request->name(), request->base_dir());
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToProto(*record, job);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* job) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  absl::StatusOr<JobRecord> record = jobs_->Get(request->job_id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToProto(*record, job);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  for (const JobRecord& record : jobs_->List()) {
    const v1::JobState state = ToProto(record.state);
    if (request->states_size() > 0 &&
        std::find(request->states().begin(), request->states().end(), state) == request->states().end()) {
      continue;
    }
    ToProto(record, response->add_jobs());
  }
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  const absl::Status status = jobs_->Watch(
      request->job_id(),
      [&](const JobEvent& event) {
        v1::JobEvent message;
        ToProto(request->job_id(), event, &message);
        return writer->Write(message);
      },
      [context] { return context->IsCancelled(); });
  return ToGrpcStatus(status);
}

grpc::Status TrainerServiceImpl::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request, v1::Job* job) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  absl::StatusOr<JobRecord> record = jobs_->Cancel(request->job_id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToProto(*record, job);
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                             v1::ListModelsResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  auto names = registry_->ListModels();
  if (!names.ok()) return ToGrpcStatus(names.status());
  for (const std::string& name : *names) response->add_names(name);
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::ListVersions(grpc::ServerContext* context, const v1::ListVersionsRequest* request,
                                               v1::ListVersionsResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  auto versions = registry_->ListVersions(request->name());
  if (!versions.ok()) return ToGrpcStatus(versions.status());
  auto aliases = registry_->ListAliases(request->name());
  if (!aliases.ok()) return ToGrpcStatus(aliases.status());
  for (const Manifest& manifest : versions->versions) ToProto(manifest, aliases->aliases, response->add_versions());
  for (const auto& [alias, version] : aliases->aliases) (*response->mutable_aliases())[alias] = version;
  for (const RegistryProblem& problem : versions->problems) ToProto(problem, response->add_problems());
  for (const RegistryProblem& problem : aliases->problems) ToProto(problem, response->add_problems());
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::GetVersion(grpc::ServerContext* context, const v1::GetVersionRequest* request,
                                             v1::ModelVersion* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  const std::string& reference = request->reference();
  const std::string name = reference.substr(0, reference.find('@'));
  auto version = registry_->Resolve(reference);
  if (!version.ok()) return ToGrpcStatus(version.status());
  if (absl::Status verified = registry_->VerifyVersion(name, *version); !verified.ok()) return ToGrpcStatus(verified);
  auto manifest = registry_->GetVersion(name, *version);
  if (!manifest.ok()) return ToGrpcStatus(manifest.status());
  auto aliases = registry_->ListAliases(name);
  if (!aliases.ok()) return ToGrpcStatus(aliases.status());
  ToProto(*manifest, aliases->aliases, response);
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::SetAlias(grpc::ServerContext* context, const v1::SetAliasRequest* request,
                                           v1::SetAliasResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  const std::string actor = request->actor().empty() ? "anonymous" : request->actor();
  auto move = registry_->SetAlias(request->name(), request->alias(), request->version(), actor);
  if (!move.ok()) return ToGrpcStatus(move.status());
  response->set_previous_version(move->from_version.value_or(0));
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::CollectGarbage(grpc::ServerContext* context, const v1::CollectGarbageRequest* request,
                                                 v1::CollectGarbageResponse* response) {
  if (grpc::Status denied = authenticator_->Authenticate(*context); !denied.ok()) return denied;
  GcOptions options;
  if (request->has_min_age()) {
    const google::protobuf::Duration& min_age = request->min_age();
    if (min_age.seconds() < 0 || min_age.nanos() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "min_age: must not be negative");
    }
    options.min_age = absl::Seconds(min_age.seconds()) + absl::Nanoseconds(min_age.nanos());
  }
  options.dry_run = request->dry_run();
  auto report = registry_->CollectGarbage(options);
  if (!report.ok()) return ToGrpcStatus(report.status());
  for (const std::string& deleted : report->deleted) response->add_deleted(deleted);
  for (const RegistryProblem& problem : report->problems) ToProto(problem, response->add_problems());
  return grpc::Status::OK;
}

}  // namespace promptintern
