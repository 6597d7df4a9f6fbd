// A small C++ client of the trainer service (TrainerService + RegistryService); the CLI is built
// on it. Errors come back as absl::Status with the server's code and message.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/lib/connection.h"
#include "promptintern/v1/trainer.grpc.pb.h"

namespace promptintern {

absl::Status FromGrpcStatus(const grpc::Status& status);

class TrainerClient {
 public:
  explicit TrainerClient(const std::string& address) : TrainerClient(Connection(address)) {}
  explicit TrainerClient(Connection connection);

  absl::StatusOr<v1::Job> SubmitJob(const std::string& job_yaml, const std::string& name = "",
                                    const std::string& base_dir = "");
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Job>> ListJobs();
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id);
  // Calls `on_event` for every event until the job ends (or on_event returns false).
  absl::Status WatchJob(const std::string& job_id, const std::function<bool(const v1::JobEvent&)>& on_event);

  absl::StatusOr<std::vector<std::string>> ListModels();
  absl::StatusOr<v1::ListVersionsResponse> ListVersions(const std::string& name);
  absl::StatusOr<v1::ModelVersion> GetVersion(const std::string& reference);
  absl::StatusOr<int64_t> SetAlias(const std::string& name, const std::string& alias, int64_t version,
                                   const std::string& actor);
  // Unset min_age_seconds: the server's default (one hour).
  absl::StatusOr<v1::CollectGarbageResponse> CollectGarbage(std::optional<int64_t> min_age_seconds, bool dry_run);

 private:
  Connection connection_;
  std::unique_ptr<v1::TrainerService::Stub> trainer_;
  std::unique_ptr<v1::RegistryService::Stub> registry_;
};

}  // namespace promptintern
