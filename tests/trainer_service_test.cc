// The trainer service end to end: the real promptintern-trainer binary on loopback, driven through
// the C++ client library.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <condition_variable>
#include <mutex>

#include <chrono>
#include <filesystem>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "client/lib/trainer_client.h"
#include "core/registry/registry.h"
#include "core/util/file.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::HealthServing;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::TinyJobYaml;

class TrainerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(StartTrainer());
  }
  bool StartTrainer() {
    return trainer_.Start(BinaryDir() + "/promptintern-trainer",
                          {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir", dir_ + "/data",
                           "--registry-dir", dir_ + "/registry", "--threads", "1"},
                          dir_ + "/trainer-" + std::to_string(++starts_) + ".log");
  }
  std::vector<v1::JobEvent> WatchToEnd(TrainerClient& client, const std::string& job_id) {
    std::vector<v1::JobEvent> events;
    absl::Status status = client.WatchJob(job_id, [&](const v1::JobEvent& event) {
      events.push_back(event);
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
    return events;
  }
  std::string dir_;
  int starts_ = 0;
  ServiceProcess trainer_;
};

TEST_F(TrainerServiceTest, SubmitWatchPublishVerifyAndMoveAnAlias) {
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("tiny-bash", 8));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_QUEUED);

  const std::vector<v1::JobEvent> events = WatchToEnd(client, job->job_id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().kind(), v1::JobEvent::KIND_QUEUED);
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  int stage_starts = 0, progress = 0, evaluations = 0, published = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i));
    stage_starts += events[i].kind() == v1::JobEvent::KIND_STAGE_STARTED;
    progress += events[i].kind() == v1::JobEvent::KIND_PROGRESS;
    evaluations += events[i].kind() == v1::JobEvent::KIND_EVALUATION;
    published += events[i].kind() == v1::JobEvent::KIND_PUBLISHED;
  }
  EXPECT_EQ(stage_starts, 3);
  EXPECT_GE(progress, 3);
  EXPECT_GE(evaluations, 3);
  EXPECT_EQ(published, 1);

  auto finished = client.GetJob(job->job_id());
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->model_name(), "tiny-bash");
  EXPECT_EQ(finished->model_version(), 1);

  auto models = client.ListModels();
  ASSERT_TRUE(models.ok());
  EXPECT_EQ(*models, std::vector<std::string>{"tiny-bash"});
  auto version = client.GetVersion("tiny-bash@1");
  ASSERT_TRUE(version.ok()) << version.status();
  std::set<std::string> files;
  for (const v1::ModelFile& file : version->files()) {
    files.insert(file.path());
    EXPECT_EQ(file.sha256().size(), 64u);
    EXPECT_GT(file.size_bytes(), 0);
  }
  for (const char* expected : {"config.json", "model.safetensors", "tokenizer.model", "task.json"}) {
    EXPECT_EQ(files.count(expected), 1u) << expected;
  }
  EXPECT_EQ(version->job_id(), job->job_id());
  // The registry on disk agrees, checksums verified independently of the service.
  auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
  ASSERT_TRUE(registry.ok());
  EXPECT_TRUE((*registry)->VerifyVersion("tiny-bash", 1).ok());

  const std::string metrics = ::promptintern::testing::HttpGet(trainer_.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_NE(metrics.find("promptintern_trainer_versions_published_total{name=\"tiny-bash\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("promptintern_trainer_training_loss{"), std::string::npos);
  EXPECT_TRUE(HealthServing(trainer_.address()));

  auto previous = client.SetAlias("tiny-bash", "production", 1, "test");
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_EQ(*previous, 0);
  auto by_alias = client.GetVersion("tiny-bash@production");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(by_alias->version(), 1);
  auto audit = (*registry)->AuditLog("tiny-bash");
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().actor, "test");
}

TEST_F(TrainerServiceTest, BadRequestsGetClearErrorsAndTheServiceStaysUp) {
  TrainerClient client(trainer_.address());
  auto malformed = client.SubmitJob("training:\n  batch_size: eight\n");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(malformed.status().message()).find("training.batch_size"), std::string::npos)
      << malformed.status();
  auto typo = client.SubmitJob("trainig: {steps: 3}\n");
  EXPECT_NE(std::string(typo.status().message()).find("did you mean 'training'"), std::string::npos) << typo.status();
  EXPECT_EQ(client.SubmitJob("").status().code(), absl::StatusCode::kInvalidArgument);
  {
    // Structured fields go through the same validation.
    auto channel = grpc::CreateChannel(trainer_.address(), grpc::InsecureChannelCredentials());
    auto stub = v1::TrainerService::NewStub(channel);
    grpc::ClientContext context;
    v1::SubmitJobRequest request;
    (*request.mutable_job()->mutable_fields())["training"].mutable_struct_value()->mutable_fields()->operator[](
        "steps").set_number_value(-4);
    v1::Job job;
    const grpc::Status status = stub->SubmitJob(&context, request, &job);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("training.steps"), std::string::npos) << status.error_message();
  }
  EXPECT_EQ(client.SubmitJob(TinyJobYaml("x", 2), "../escape").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.GetJob("job-nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client.GetJob("../../etc/passwd").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client.CancelJob("job-nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client.GetVersion("nobody@production").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client.SetAlias("nobody", "production", 1, "t").status().code(), absl::StatusCode::kNotFound);
  // Beyond the 4 MiB message limit: refused by gRPC itself.
  auto oversized = client.SubmitJob(std::string(5 << 20, '#'));
  EXPECT_EQ(oversized.status().code(), absl::StatusCode::kResourceExhausted) << oversized.status();
  auto jobs = client.ListJobs();
  ASSERT_TRUE(jobs.ok()) << "the service must still answer";
  EXPECT_TRUE(jobs->empty()) << "no refused job may be stored";
}

TEST_F(TrainerServiceTest, RelativePathsResolveAgainstTheGivenBaseDirectory) {
  TrainerClient client(trainer_.address());
  ASSERT_TRUE(MakeDirectories(dir_ + "/jobs").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/jobs/instruction.txt", "Answer with one bash command.").ok());
  std::string yaml = TinyJobYaml("relative", 4);
  const size_t at = yaml.find("instruction: ");
  yaml.replace(at, yaml.find('\n', at) - at, "instruction_file: instruction.txt");
  auto without = client.SubmitJob(yaml);
  EXPECT_EQ(without.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(without.status().message()).find("task.template.instruction_file"), std::string::npos)
      << without.status();
  EXPECT_EQ(client.SubmitJob(yaml, "", "jobs").status().code(), absl::StatusCode::kInvalidArgument);
  auto with = client.SubmitJob(yaml, "", dir_ + "/jobs");
  ASSERT_TRUE(with.ok()) << with.status();
  const auto events = WatchToEnd(client, with->job_id());
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
}

TEST_F(TrainerServiceTest, CancelStopsAJob) {
  TrainerClient client(trainer_.address());
  auto running = client.SubmitJob(TinyJobYaml("long", 2000));
  auto queued = client.SubmitJob(TinyJobYaml("waiting", 4));
  ASSERT_TRUE(running.ok() && queued.ok());
  auto cancelled_queued = client.CancelJob(queued->job_id());
  ASSERT_TRUE(cancelled_queued.ok());
  EXPECT_EQ(cancelled_queued->state(), v1::JOB_STATE_CANCELLED);
  ASSERT_TRUE(client.CancelJob(running->job_id()).ok());
  const auto events = WatchToEnd(client, running->job_id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_CANCELLED);
  EXPECT_EQ(client.GetJob(running->job_id())->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(client.ListModels()->empty());
}

// kill -9 mid-stage, restart on the same data: the job resumes and publishes exactly once.
TEST_F(TrainerServiceTest, KilledTrainerResumesTheJobAndPublishesOnce) {
  std::string job_id;
  {
    TrainerClient client(trainer_.address());
    auto job = client.SubmitJob(TinyJobYaml("resumed", 60));
    ASSERT_TRUE(job.ok()) << job.status();
    job_id = job->job_id();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto current = client.GetJob(job_id);
      if (current.ok() && current->step() >= 10) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_LT(client.GetJob(job_id)->step(), 60) << "the job finished before it could be killed";
  }
  trainer_.Stop(SIGKILL);
  ASSERT_TRUE(StartTrainer());
  TrainerClient client(trainer_.address());
  auto listed = client.ListJobs();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const auto events = WatchToEnd(client, job_id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  int published = 0;
  bool resumed = false;
  for (const auto& event : events) {
    published += event.kind() == v1::JobEvent::KIND_PUBLISHED;
    resumed |= event.message().find("resumed at step") != std::string::npos;
  }
  EXPECT_EQ(published, 1);
  EXPECT_TRUE(resumed);
  auto versions = client.ListVersions("resumed");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->versions_size(), 1);
}

// SIGTERM checkpoints the running stage and exits cleanly; the next start resumes the job.
TEST_F(TrainerServiceTest, SigtermCheckpointsAndTheJobResumesOnRestart) {
  std::string job_id;
  {
    TrainerClient client(trainer_.address());
    auto job = client.SubmitJob(TinyJobYaml("graceful", 60));
    ASSERT_TRUE(job.ok());
    job_id = job->job_id();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto current = client.GetJob(job_id);
      ASSERT_TRUE(current.ok()) << current.status();
      ASSERT_NE(current->state(), v1::JOB_STATE_FAILED) << current->error();
      if (current->step() >= 5) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  const int status = trainer_.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // A configuration file this time, with a flag still overriding it.
  const std::string config = dir_ + "/trainer.yaml";
  ASSERT_TRUE(WriteFileAtomic(config, "listen: 127.0.0.1:1\nmetrics_listen: ''\ndata_dir: " + dir_ +
                                          "/data\nregistry_dir: " + dir_ + "/registry\nthreads: 1\n").ok());
  ASSERT_TRUE(trainer_.Start(BinaryDir() + "/promptintern-trainer", {"--config", config, "--listen", "127.0.0.1:0"},
                             dir_ + "/trainer-config.log"));
  TrainerClient client(trainer_.address());
  auto interrupted = client.GetJob(job_id);
  ASSERT_TRUE(interrupted.ok());
  EXPECT_GE(interrupted->step(), 5);
  const auto events = WatchToEnd(client, job_id);
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  EXPECT_EQ(client.ListVersions("graceful")->versions_size(), 1);
}

TEST_F(TrainerServiceTest, CorruptedVersionIsRefused) {
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("fragile", 4));
  ASSERT_TRUE(job.ok());
  WatchToEnd(client, job->job_id());
  auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
  ASSERT_TRUE(registry.ok());
  auto directory = (*registry)->Materialize("fragile", 1);
  ASSERT_TRUE(directory.ok()) << directory.status();
  const std::string weights = *directory + "/model.safetensors";
  std::string bytes = *ReadFile(weights);
  bytes[bytes.size() / 2] ^= 0x01;
  std::filesystem::permissions(weights, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  ASSERT_TRUE(WriteFileAtomic(weights, bytes).ok());
  auto refused = client.GetVersion("fragile@1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("model.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace promptintern
