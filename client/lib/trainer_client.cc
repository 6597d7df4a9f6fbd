#include "client/lib/trainer_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace promptintern {
namespace {

// Unary calls are short; a call that hangs this long means the server is gone.
constexpr auto kUnaryDeadline = std::chrono::seconds(30);

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

TrainerClient::TrainerClient(Connection connection)
    : connection_(std::move(connection)),
      trainer_(v1::TrainerService::NewStub(connection_.channel())),
      registry_(v1::RegistryService::NewStub(connection_.channel())) {}

absl::StatusOr<v1::Job> TrainerClient::SubmitJob(const std::string& job_yaml, const std::string& name,
                                                 const std::string& base_dir) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::SubmitJobRequest request;
  request.set_job_yaml(job_yaml);
  request.set_name(name);
  request.set_base_dir(base_dir);
  v1::Job job;
  if (grpc::Status status = trainer_->SubmitJob(&context, request, &job); !status.ok()) return FromGrpcStatus(status);
  return job;
}

absl::StatusOr<v1::Job> TrainerClient::GetJob(const std::string& job_id) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  if (grpc::Status status = trainer_->GetJob(&context, request, &job); !status.ok()) return FromGrpcStatus(status);
  return job;
}

absl::StatusOr<std::vector<v1::Job>> TrainerClient::ListJobs() {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::ListJobsResponse response;
  if (grpc::Status status = trainer_->ListJobs(&context, {}, &response); !status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<v1::Job> TrainerClient::CancelJob(const std::string& job_id) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  if (grpc::Status status = trainer_->CancelJob(&context, request, &job); !status.ok()) return FromGrpcStatus(status);
  return job;
}

absl::Status TrainerClient::WatchJob(const std::string& job_id,
                                     const std::function<bool(const v1::JobEvent&)>& on_event) {
  grpc::ClientContext context;
  connection_.Authorize(&context);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = trainer_->WatchJob(&context, request);
  v1::JobEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return FromGrpcStatus(status);
}

absl::StatusOr<std::vector<std::string>> TrainerClient::ListModels() {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::ListModelsResponse response;
  if (grpc::Status status = registry_->ListModels(&context, {}, &response); !status.ok()) return FromGrpcStatus(status);
  return std::vector<std::string>(response.names().begin(), response.names().end());
}

absl::StatusOr<v1::ListVersionsResponse> TrainerClient::ListVersions(const std::string& name) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::ListVersionsRequest request;
  request.set_name(name);
  v1::ListVersionsResponse response;
  if (grpc::Status status = registry_->ListVersions(&context, request, &response); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return response;
}

absl::StatusOr<v1::ModelVersion> TrainerClient::GetVersion(const std::string& reference) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::GetVersionRequest request;
  request.set_reference(reference);
  v1::ModelVersion response;
  if (grpc::Status status = registry_->GetVersion(&context, request, &response); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return response;
}

absl::StatusOr<int64_t> TrainerClient::SetAlias(const std::string& name, const std::string& alias, int64_t version,
                                                const std::string& actor) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::SetAliasRequest request;
  request.set_name(name);
  request.set_alias(alias);
  request.set_version(version);
  request.set_actor(actor);
  v1::SetAliasResponse response;
  if (grpc::Status status = registry_->SetAlias(&context, request, &response); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return response.previous_version();
}

absl::StatusOr<v1::CollectGarbageResponse> TrainerClient::CollectGarbage(std::optional<int64_t> min_age_seconds,
                                                                          bool dry_run) {
  grpc::ClientContext context;
  connection_.Prepare(&context, kUnaryDeadline);
  v1::CollectGarbageRequest request;
  if (min_age_seconds) request.mutable_min_age()->set_seconds(*min_age_seconds);
  request.set_dry_run(dry_run);
  v1::CollectGarbageResponse response;
  if (grpc::Status status = registry_->CollectGarbage(&context, request, &response); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return response;
}

}  // namespace promptintern
