// gRPC adapters of the trainer: TrainerService over JobManager, RegistryService over
// ModelRegistry. No logic of their own beyond translating messages and statuses.
#pragma once

#include "core/jobs/job_manager.h"
#include "core/registry/registry.h"
#include "promptintern/v1/trainer.grpc.pb.h"
#include "server/common/transport_security.h"

namespace promptintern {

class TrainerServiceImpl final : public v1::TrainerService::Service {
 public:
  TrainerServiceImpl(JobManager* jobs, const BearerTokenAuthenticator* authenticator)
      : jobs_(jobs), authenticator_(authenticator) {}
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::Job*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*, grpc::ServerWriter<v1::JobEvent>*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;

 private:
  JobManager* jobs_;
  const BearerTokenAuthenticator* authenticator_;
};

class RegistryServiceImpl final : public v1::RegistryService::Service {
 public:
  RegistryServiceImpl(ModelRegistry* registry, const BearerTokenAuthenticator* authenticator)
      : registry_(registry), authenticator_(authenticator) {}
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*, v1::ListModelsResponse*) override;
  grpc::Status ListVersions(grpc::ServerContext*, const v1::ListVersionsRequest*, v1::ListVersionsResponse*) override;
  grpc::Status GetVersion(grpc::ServerContext*, const v1::GetVersionRequest*, v1::ModelVersion*) override;
  grpc::Status SetAlias(grpc::ServerContext*, const v1::SetAliasRequest*, v1::SetAliasResponse*) override;
  grpc::Status CollectGarbage(grpc::ServerContext*, const v1::CollectGarbageRequest*,
                              v1::CollectGarbageResponse*) override;

 private:
  ModelRegistry* registry_;
  const BearerTokenAuthenticator* authenticator_;
};

}  // namespace promptintern
