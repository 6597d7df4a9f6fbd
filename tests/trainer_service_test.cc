// The trainer service end to end: the real promptintern-trainer binary on loopback, driven through
// the C++ client library.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <tuple>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "client/lib/trainer_client.h"
#include "core/jobs/job_record.h"
#include "core/registry/registry.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
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
  bool StartTrainer(const std::vector<std::string>& extra_arguments = {}) {
    std::vector<std::string> arguments = {"--listen",       "127.0.0.1:0",        "--metrics-listen", "127.0.0.1:0",
                                          "--data-dir",     dir_ + "/data",       "--registry-dir",   dir_ + "/registry",
                                          "--threads",      "1"};
    arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
    return trainer_.Start(BinaryDir() + "/promptintern-trainer", arguments, Log());
  }
  std::string Log() { return dir_ + "/trainer-" + std::to_string(++starts_) + ".log"; }
  // tiny_job.yaml with its inline instruction replaced by `line` (e.g. "instruction_file: x").
  static std::string WithTemplate(std::string yaml, const std::string& line) {
    const size_t at = yaml.find("instruction: ");
    return yaml.replace(at, yaml.find('\n', at) - at, line);
  }
  static std::string Message(const absl::Status& status) { return std::string(status.message()); }
  std::vector<v1::JobEvent> WatchToEnd(TrainerClient& client, const std::string& job_id) {
    std::vector<v1::JobEvent> events;
    absl::Status status = client.WatchJob(job_id, [&](const v1::JobEvent& event) {
      events.push_back(event);
      return true;
    });
    EXPECT_THAT(status, IsOk());
    return events;
  }
  std::string dir_;
  int starts_ = 0;
  ServiceProcess trainer_;
};

TEST_F(TrainerServiceTest, SubmitWatchPublishVerifyAndMoveAnAlias) {
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("tiny-bash", 8));
  ASSERT_THAT(job, IsOk());
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
  ASSERT_THAT(finished, IsOk());
  EXPECT_EQ(finished->model_name(), "tiny-bash");
  EXPECT_EQ(finished->model_version(), 1);

  auto models = client.ListModels();
  ASSERT_THAT(models, IsOk());
  EXPECT_EQ(*models, std::vector<std::string>{"tiny-bash"});
  auto version = client.GetVersion("tiny-bash@1");
  ASSERT_THAT(version, IsOk());
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
  ASSERT_THAT(registry, IsOk());
  EXPECT_TRUE((*registry)->VerifyVersion("tiny-bash", 1).ok());

  const std::string metrics = ::promptintern::testing::HttpGet(trainer_.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_NE(metrics.find("promptintern_trainer_versions_published_total{name=\"tiny-bash\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("promptintern_trainer_training_loss{"), std::string::npos);
  EXPECT_TRUE(HealthServing(trainer_.address()));

  auto previous = client.SetAlias("tiny-bash", "production", 1, "test");
  ASSERT_THAT(previous, IsOk());
  EXPECT_EQ(*previous, 0);
  auto by_alias = client.GetVersion("tiny-bash@production");
  ASSERT_THAT(by_alias, IsOk());
  EXPECT_EQ(by_alias->version(), 1);
  auto audit = (*registry)->AuditLog("tiny-bash");
  ASSERT_THAT(audit, IsOk());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().actor, "test");
}

TEST_F(TrainerServiceTest, PromotionGateMovesTheAliasOnlyWhenTheDropIsWithinMaxDrop) {
  TrainerClient client(trainer_.address());
  const auto run = [&](const std::string& promote) {
    auto job = client.SubmitJob(TinyJobYaml("gated", 6) + promote);
    EXPECT_THAT(job, IsOk());
    std::vector<v1::JobEvent> events = WatchToEnd(client, job->job_id());
    auto finished = client.GetJob(job->job_id());
    EXPECT_EQ(finished->state(), v1::JOB_STATE_SUCCEEDED) << finished->error();
    std::vector<v1::JobEvent> gates;
    for (const v1::JobEvent& event : events) {
      if (event.kind() == v1::JobEvent::KIND_PROMOTION) gates.push_back(event);
    }
    EXPECT_EQ(gates.size(), 1u);
    return std::make_tuple(job->job_id(), finished->model_version(), gates.empty() ? v1::JobEvent() : gates[0]);
  };
  // Within: BLEU lies in [0, 100], so no drop exceeds 100.
  const auto [first_job, first_version, promoted] =
      run("promote: {alias: production, reference: full_prompt, metric: bleu, max_drop: 100}\n");
  ASSERT_EQ(first_version, 1);
  EXPECT_EQ(promoted.metrics().at("promoted"), 1.0);
  EXPECT_NE(promoted.message().find("promoted to \"production\""), std::string::npos) << promoted.message();
  auto serving = client.GetVersion("gated@production");
  ASSERT_THAT(serving, IsOk());
  EXPECT_EQ(serving->version(), 1);

  // Beyond: against version 1 with the full prompt (a registry reference), a bound below -100 BLEU
  // asks for more gain than any model can show, so this version's drop exceeds it.
  const auto [second_job, second_version, refused] =
      run("promote: {alias: production, reference: gated@production, metric: bleu, max_drop: -101}\n");
  ASSERT_EQ(second_version, 2);
  EXPECT_EQ(refused.metrics().at("promoted"), 0.0);
  EXPECT_DOUBLE_EQ(refused.metrics().at("drop"), refused.metrics().at("reference") - refused.metrics().at("candidate"));
  EXPECT_NE(refused.message().find("not promoted to \"production\""), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("gated@production"), std::string::npos) << refused.message();
  serving = client.GetVersion("gated@production");
  ASSERT_THAT(serving, IsOk());
  EXPECT_EQ(serving->version(), 1) << "the alias stays on the version that passed";

  auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto audit = (*registry)->AuditLog("gated");
  ASSERT_THAT(audit, IsOk());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].to_version, 1);
  EXPECT_EQ((*audit)[0].actor, "job " + first_job);
  EXPECT_EQ((*audit)[1].refused_version, 2);
  EXPECT_EQ((*audit)[1].to_version, 1);
  EXPECT_EQ((*audit)[1].reason, refused.message());
  EXPECT_EQ((*audit)[1].actor, "job " + second_job);
  // Both scores are in each version's manifest.
  for (const auto& [version, passed] : std::vector<std::pair<int64_t, bool>>{{1, true}, {2, false}}) {
    auto manifest = (*registry)->GetVersion("gated", version);
    ASSERT_THAT(manifest, IsOk());
    const nlohmann::json& gate = manifest->extra.at("promotion");
    EXPECT_EQ(gate.at("passed"), passed) << version;
    EXPECT_TRUE(gate.at("candidate").is_number()) << gate;
    EXPECT_TRUE(gate.at("reference_score").is_number()) << gate;
    EXPECT_EQ(gate.at("examples"), 4) << gate;
  }
  const std::string metrics = ::promptintern::testing::HttpGet(trainer_.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_NE(metrics.find("promptintern_trainer_promotions_refused_total{name=\"gated\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(TrainerServiceTest, BadRequestsGetClearErrorsAndTheServiceStaysUp) {
  TrainerClient client(trainer_.address());
  auto malformed = client.SubmitJob("training:\n  batch_size: eight\n");
  EXPECT_THAT(malformed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(malformed.status().message()).find("training.batch_size"), std::string::npos)
      << malformed.status();
  auto typo = client.SubmitJob("trainig: {steps: 3}\n");
  EXPECT_NE(std::string(typo.status().message()).find("did you mean 'training'"), std::string::npos) << typo.status();
  EXPECT_THAT(client.SubmitJob(""), StatusIs(absl::StatusCode::kInvalidArgument));
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
  EXPECT_THAT(client.SubmitJob(TinyJobYaml("x", 4), "../escape"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client.GetJob("job-nope"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client.GetJob("../../etc/passwd"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client.CancelJob("job-nope"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client.GetVersion("nobody@production"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client.SetAlias("nobody", "production", 1, "t"), StatusIs(absl::StatusCode::kNotFound));
  // Beyond the 4 MiB message limit: refused by gRPC itself.
  auto oversized = client.SubmitJob(std::string(5 << 20, '#'));
  EXPECT_THAT(oversized, StatusIs(absl::StatusCode::kResourceExhausted)) << oversized.status();
  auto jobs = client.ListJobs();
  ASSERT_TRUE(jobs.ok()) << "the service must still answer";
  EXPECT_TRUE(jobs->empty()) << "no refused job may be stored";
}

TEST_F(TrainerServiceTest, RelativePathsResolveAgainstTheGivenBaseDirectory) {
  TrainerClient client(trainer_.address());
  const std::string inputs = dir_ + "/data/inputs";  // under the data directory: an allowed path
  ASSERT_THAT(MakeDirectories(inputs), IsOk());
  ASSERT_THAT(WriteFileAtomic(inputs + "/instruction.txt", "Answer with one bash command."), IsOk());
  const std::string yaml = WithTemplate(TinyJobYaml("relative", 4), "instruction_file: instruction.txt");
  auto without = client.SubmitJob(yaml);
  EXPECT_THAT(without, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(without.status().message()).find("task.template.instruction_file"), std::string::npos)
      << without.status();
  EXPECT_THAT(client.SubmitJob(yaml, "", "jobs"), StatusIs(absl::StatusCode::kInvalidArgument));
  auto with = client.SubmitJob(yaml, "", inputs);
  ASSERT_THAT(with, IsOk());
  const auto events = WatchToEnd(client, with->job_id());
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
}

TEST_F(TrainerServiceTest, CancelStopsAJob) {
  TrainerClient client(trainer_.address());
  auto running = client.SubmitJob(TinyJobYaml("long", 2000));
  auto queued = client.SubmitJob(TinyJobYaml("waiting", 4));
  ASSERT_TRUE(running.ok() && queued.ok());
  auto cancelled_queued = client.CancelJob(queued->job_id());
  ASSERT_THAT(cancelled_queued, IsOk());
  EXPECT_EQ(cancelled_queued->state(), v1::JOB_STATE_CANCELLED);
  ASSERT_THAT(client.CancelJob(running->job_id()), IsOk());
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
    ASSERT_THAT(job, IsOk());
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
  ASSERT_THAT(listed, IsOk());
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
  ASSERT_THAT(versions, IsOk());
  EXPECT_EQ(versions->versions_size(), 1);
}

// SIGTERM checkpoints the running stage and exits cleanly; the next start resumes the job.
TEST_F(TrainerServiceTest, SigtermCheckpointsAndTheJobResumesOnRestart) {
  std::string job_id;
  {
    TrainerClient client(trainer_.address());
    auto job = client.SubmitJob(TinyJobYaml("graceful", 60));
    ASSERT_THAT(job, IsOk());
    job_id = job->job_id();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto current = client.GetJob(job_id);
      ASSERT_THAT(current, IsOk());
      ASSERT_NE(current->state(), v1::JOB_STATE_FAILED) << current->error();
      if (current->step() >= 5) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  const int status = trainer_.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // A configuration file this time, with a flag still overriding it.
  const std::string config = dir_ + "/trainer.yaml";
  ASSERT_THAT(WriteFileAtomic(config, "listen: 127.0.0.1:1\nmetrics_listen: ''\ndata_dir: " + dir_ +
                                          "/data\nregistry_dir: " + dir_ + "/registry\nthreads: 1\n"), IsOk());
  ASSERT_TRUE(trainer_.Start(BinaryDir() + "/promptintern-trainer", {"--config", config, "--listen", "127.0.0.1:0"},
                             dir_ + "/trainer-config.log"));
  TrainerClient client(trainer_.address());
  auto interrupted = client.GetJob(job_id);
  ASSERT_THAT(interrupted, IsOk());
  EXPECT_GE(interrupted->step(), 5);
  const auto events = WatchToEnd(client, job_id);
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  EXPECT_EQ(client.ListVersions("graceful")->versions_size(), 1);
}

TEST_F(TrainerServiceTest, CorruptedVersionIsRefused) {
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("fragile", 4));
  ASSERT_THAT(job, IsOk());
  WatchToEnd(client, job->job_id());
  auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto directory = (*registry)->Materialize("fragile", 1);
  ASSERT_THAT(directory, IsOk());
  const std::string weights = *directory + "/model.safetensors";
  std::string bytes = *ReadFile(weights);
  bytes[bytes.size() / 2] ^= 0x01;
  std::filesystem::permissions(weights, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  ASSERT_THAT(WriteFileAtomic(weights, bytes), IsOk());
  auto refused = client.GetVersion("fragile@1");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kDataLoss)) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("model.safetensors"), std::string::npos);
}



// ---- Nothing a stored record, a file or a job value does can take the trainer down -------------

// Writes a job's two records the way the trainer does, optionally with a line of events damaged.
void WriteJob(const std::string& data_dir, const JobRecord& record, const std::string& record_text = "",
              const std::string& extra_event_line = "") {
  const std::string dir = data_dir + "/jobs/" + record.id;
  ASSERT_THAT(MakeDirectories(dir), IsOk());
  ASSERT_THAT(WriteFileAtomic(dir + "/job.json", record_text.empty() ? SerializeJobRecord(record) : record_text), IsOk());
  JobEvent queued;
  queued.kind = JobEvent::Kind::kQueued;
  ASSERT_THAT(WriteFileAtomic(dir + "/events.jsonl", SerializeJobEvent(queued) + extra_event_line), IsOk());
}

// The files of a directory whose names start with `prefix`.
std::vector<std::string> FilesStartingWith(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) found.push_back(entry.path().string());
  }
  return found;
}

TEST_F(TrainerServiceTest, DamagedRecordsFailTheirJobAndTheTrainerServesTheOthers) {
  trainer_.Stop(SIGTERM);
  const std::string data = dir_ + "/data";
  JobRecord healthy;
  healthy.id = "job-healthy";
  healthy.name = "healthy";
  healthy.state = JobState::kSucceeded;
  healthy.created_unix_ms = 1;
  WriteJob(data, healthy);
  JobRecord wrong_type = healthy;
  wrong_type.id = "job-wrong-type";
  wrong_type.state = JobState::kRunning;
  wrong_type.yaml = TinyJobYaml("wrong-type", 4);
  std::string record_text = SerializeJobRecord(wrong_type);
  const size_t step = record_text.find("\"step\": 0");
  ASSERT_NE(step, std::string::npos);
  record_text.replace(step, 9, "\"step\": \"abc\"");
  WriteJob(data, wrong_type, record_text);
  JobRecord bad_event = wrong_type;
  bad_event.id = "job-bad-event";
  WriteJob(data, bad_event, "", "{\"kind\": 7}\n");
  JobRecord crash_looping = wrong_type;
  crash_looping.id = "job-crash-looping";
  crash_looping.unfinished_runs = 3;  // the trainer died during each of its last three runs
  WriteJob(data, crash_looping);

  ASSERT_TRUE(StartTrainer()) << "the trainer must start whatever its records hold";
  TrainerClient client(trainer_.address());
  auto jobs = client.ListJobs();
  ASSERT_THAT(jobs, IsOk());
  EXPECT_EQ(jobs->size(), 4u);
  EXPECT_EQ(client.GetJob("job-healthy")->state(), v1::JOB_STATE_SUCCEEDED);
  const auto failed_with = [&](const std::string& id, const std::vector<std::string>& fragments) {
    auto job = client.GetJob(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->state(), v1::JOB_STATE_FAILED) << id;
    for (const std::string& fragment : fragments) {
      EXPECT_NE(job->error().find(fragment), std::string::npos) << id << ": " << job->error();
    }
  };
  failed_with("job-wrong-type", {"job.json is damaged", "\"step\"", "kept as"});
  failed_with("job-bad-event", {"events.jsonl is damaged", "line 2", "\"kind\"", "kept as"});
  failed_with("job-crash-looping", {"stopped abnormally", "not resumed"});
  // The damaged bytes are kept, not destroyed.
  const auto kept = FilesStartingWith(data + "/jobs/job-wrong-type", "job.json.damaged-");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(*ReadFile(kept[0]), record_text);
  const auto kept_events = FilesStartingWith(data + "/jobs/job-bad-event", "events.jsonl.damaged-");
  ASSERT_EQ(kept_events.size(), 1u);
  EXPECT_NE(ReadFile(kept_events[0])->find("{\"kind\": 7}"), std::string::npos);

  // The trainer runs new jobs, and its next start reads back what it wrote.
  auto job = client.SubmitJob(TinyJobYaml("after-damage", 4));
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(WatchToEnd(client, job->job_id()).back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  trainer_.Stop(SIGTERM);
  ASSERT_TRUE(StartTrainer());
  TrainerClient again(trainer_.address());
  EXPECT_EQ(again.GetJob("job-wrong-type")->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(again.ListJobs()->size(), 5u);
  EXPECT_EQ(FilesStartingWith(data + "/jobs/job-wrong-type", "job.json.damaged-").size(), 1u);
}

// A template that is not text, a FIFO, a device: refused at submit with the field named, before any
// job exists; nothing blocks, so SIGTERM still ends the trainer at once.
TEST_F(TrainerServiceTest, TemplatesThatAreNotTextFilesAreRefusedAtSubmit) {
  TrainerClient client(trainer_.address());
  const std::string inputs = dir_ + "/data/inputs";
  ASSERT_THAT(MakeDirectories(inputs), IsOk());
  ASSERT_THAT(WriteFileAtomic(inputs + "/latin1.txt", "R\xe9ponds avec une commande.\n"), IsOk());
  ASSERT_EQ(::mkfifo((inputs + "/fifo.txt").c_str(), 0644), 0);
  struct Case {
    std::string file;
    std::string problem;
  };
  std::vector<Case> cases = {{"latin1.txt", "is not valid UTF-8 (byte 0xE9 at offset 1)"}, {"fifo.txt", "is a FIFO"}};
  if (::mknod((inputs + "/zero").c_str(), S_IFCHR | 0644, makedev(1, 5)) == 0) {
    cases.push_back({"zero", "is a character device"});  // /dev/zero, inside the allowed paths
  }
  for (const Case& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    auto refused = client.SubmitJob(WithTemplate(TinyJobYaml("bad-template", 4), "instruction_file: " + c.file), "",
                                    inputs);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << c.file;
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument)) << c.file << ": " << refused.status();
    EXPECT_EQ(Message(refused.status()).rfind("task.template.instruction_file: ", 0), 0u) << refused.status();
    EXPECT_NE(Message(refused.status()).find(c.problem), std::string::npos) << refused.status();
  }
  EXPECT_TRUE(client.ListJobs()->empty());
  const std::optional<int> status = trainer_.StopWithin(SIGTERM, std::chrono::seconds(20));
  ASSERT_TRUE(status.has_value()) << "SIGTERM did not end the trainer";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  ASSERT_TRUE(StartTrainer());
}

TEST_F(TrainerServiceTest, ValuesBeyondTheMachineAreRefusedAtSubmit) {
  TrainerClient client(trainer_.address());
  std::string huge_task = TinyJobYaml("huge", 4);
  huge_task.replace(huge_task.find("train_size: 64"), 14, "train_size: 1000000000000");
  auto refused = client.SubmitJob(huge_task);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Message(refused.status()).rfind("task.synthetic.train_size: ", 0), 0u) << refused.status();

  std::string threads = TinyJobYaml("threads", 4);
  threads.replace(threads.find("threads: 1"), 10, "threads: 100000");
  refused = client.SubmitJob(threads);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Message(refused.status()).rfind("threads: 100000 exceeds the ", 0), 0u) << refused.status();
  EXPECT_NE(Message(refused.status()).find("cores"), std::string::npos);

  std::string wide = TinyJobYaml("wide", 4);
  wide.replace(wide.find("hidden_size: 32, intermediate_size: 64"), 38,
               "hidden_size: 262144, intermediate_size: 262144");
  refused = client.SubmitJob(wide);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Message(refused.status()).rfind("model.scratch: ", 0), 0u) << refused.status();
  EXPECT_NE(Message(refused.status()).find("of memory; this machine has"), std::string::npos);
  EXPECT_TRUE(client.ListJobs()->empty());
  EXPECT_TRUE(HealthServing(trainer_.address()));
}

TEST_F(TrainerServiceTest, SubmittedJobsMayNameOnlyFilesUnderTheAllowedPaths) {
  TrainerClient client(trainer_.address());
  ASSERT_THAT(MakeDirectories(dir_ + "/data/inputs"), IsOk());
  ASSERT_THAT(MakeDirectories(dir_ + "/shared-inputs"), IsOk());
  ASSERT_THAT(WriteFileAtomic(dir_ + "/shared-inputs/instruction.txt", "Answer with one bash command."), IsOk());
  std::filesystem::create_symlink("/etc/hostname", dir_ + "/data/inputs/hostname");
  struct Case {
    std::string line;
    std::string field;
  };
  const Case cases[] = {
      {"instruction_file: /etc/hostname", "task.template.instruction_file"},
      {"instruction_file: hostname", "task.template.instruction_file"},  // a symlink out of the data dir
      {"instruction_file: ../../shared-inputs/instruction.txt", "task.template.instruction_file"},
      {"document_file: /proc/self/environ", "task.template.document_file"},
  };
  for (const Case& c : cases) {
    auto refused = client.SubmitJob(WithTemplate(TinyJobYaml("escape", 4), c.line), "", dir_ + "/data/inputs");
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument)) << c.line;
    EXPECT_EQ(Message(refused.status()).rfind(c.field + ": ", 0), 0u) << refused.status();
    EXPECT_NE(Message(refused.status()).find("outside the trainer's allowed paths"), std::string::npos)
        << refused.status();
  }
  std::string base = TinyJobYaml("base", 4);
  base.replace(base.find("model:\n"), base.find("task:") - base.find("model:\n"), "model:\n  base: /usr/lib\n");
  auto refused = client.SubmitJob(base);
  EXPECT_EQ(Message(refused.status()).rfind("model.base: /usr/lib is outside", 0), 0u) << refused.status();
  EXPECT_TRUE(client.ListJobs()->empty());
  EXPECT_TRUE(client.ListModels()->empty()) << "nothing was published, so nothing was read";

  // A root given in the configuration admits its files.
  trainer_.Stop(SIGTERM);
  ASSERT_TRUE(StartTrainer({"--allowed-paths", dir_ + "/data", dir_ + "/shared-inputs"}));
  TrainerClient configured(trainer_.address());
  auto accepted = configured.SubmitJob(
      WithTemplate(TinyJobYaml("shared", 4), "instruction_file: " + dir_ + "/shared-inputs/instruction.txt"));
  ASSERT_THAT(accepted, IsOk());
  EXPECT_EQ(WatchToEnd(configured, accepted->job_id()).back().kind(), v1::JobEvent::KIND_SUCCEEDED);
  auto refused_again =
      configured.SubmitJob(WithTemplate(TinyJobYaml("escape", 4), "instruction_file: /etc/hostname"));
  EXPECT_THAT(refused_again, StatusIs(absl::StatusCode::kInvalidArgument));
}

// A disk that stops answering (here: events.jsonl swapped for a FIFO nobody reads, so the job's
// next append blocks in open(2)) holds up that job only: the manager's lock is not held during I/O.
TEST_F(TrainerServiceTest, AStalledDiskWriteDoesNotStallListOrGet) {
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("stalled", 5000));
  ASSERT_THAT(job, IsOk());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (client.GetJob(job->job_id())->step() < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string events = dir_ + "/data/jobs/" + job->job_id() + "/events.jsonl";
  // Made beside it and renamed over it: between an unlink and a mkfifo the running job could
  // append an event and create the file again (seen under ctest -j2).
  const std::string fifo = events + ".fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  ASSERT_EQ(::rename(fifo.c_str(), events.c_str()), 0);
  // The job blocks at its next event (a checkpoint every two steps); give it time to get there.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto asked = std::chrono::steady_clock::now();
  auto listed = client.ListJobs();
  auto got = client.GetJob(job->job_id());
  ASSERT_THAT(listed, IsOk());
  ASSERT_THAT(got, IsOk());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(5));
  EXPECT_EQ(got->state(), v1::JOB_STATE_RUNNING);

  // Proof that the job really was waiting on the stalled write: it is there to be read.
  const int fd = ::open(events.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(fd, 0);
  pollfd readable{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 10000), 1) << "no write was waiting on the FIFO";
  std::atomic<bool> draining{true};
  std::thread drain([&] {
    char buffer[4096];
    while (draining.load()) {
      if (::read(fd, buffer, sizeof(buffer)) <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  ASSERT_THAT(client.CancelJob(job->job_id()), IsOk());
  const auto events_seen = WatchToEnd(client, job->job_id());
  EXPECT_EQ(events_seen.back().kind(), v1::JobEvent::KIND_CANCELLED);
  draining = false;
  drain.join();
  ::close(fd);
}

// SIGTERM always ends the trainer: a job that does not reach its next stop check in time (here: no
// time at all) is left to resume from its last checkpoint, as after a crash.
TEST_F(TrainerServiceTest, SigtermEndsTheTrainerEvenWhenAJobDoesNotStopInTime) {
  trainer_.Stop(SIGTERM);
  ASSERT_TRUE(StartTrainer({"--job-stop-timeout-seconds", "0"}));
  std::string job_id;
  {
    TrainerClient client(trainer_.address());
    auto job = client.SubmitJob(TinyJobYaml("slow-to-stop", 60));
    ASSERT_THAT(job, IsOk());
    job_id = job->job_id();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (client.GetJob(job_id)->step() < 4 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  const std::optional<int> status = trainer_.StopWithin(SIGTERM, std::chrono::seconds(20));
  ASSERT_TRUE(status.has_value()) << "SIGTERM did not end the trainer";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
  EXPECT_NE(ReadFile(dir_ + "/trainer-" + std::to_string(starts_) + ".log")->find("did not stop within 0 s"),
            std::string::npos);
  ASSERT_TRUE(StartTrainer());
  TrainerClient client(trainer_.address());
  EXPECT_EQ(WatchToEnd(client, job_id).back().kind(), v1::JobEvent::KIND_SUCCEEDED);
}

// ---- The registry through the service: damage listed, refused as a target, repaired, collected ---

std::string FakeCheckpoint(const std::string& dir, int seed) {
  std::filesystem::create_directories(dir);
  EXPECT_THAT(WriteFileAtomic(dir + "/config.json", absl::StrCat("{\"seed\": ", seed, "}")), IsOk());
  EXPECT_THAT(WriteFileAtomic(dir + "/model.safetensors", std::string(1000 + seed, static_cast<char>(seed))), IsOk());
  EXPECT_THAT(WriteFileAtomic(dir + "/tokenizer.model", absl::StrCat("tokenizer ", seed)), IsOk());
  EXPECT_THAT(WriteFileAtomic(dir + "/task.json", "{\"name\": \"fake\"}"), IsOk());
  return dir;
}

// The `promptintern` CLI's stdout.
std::string RunCli(const std::string& arguments) {
  std::string output;
  FILE* pipe = ::popen((BinaryDir() + "/promptintern " + arguments + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

TEST_F(TrainerServiceTest, RegistryDamageIsListedRefusedAsATargetAndRepairable) {
  auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
  ASSERT_THAT(registry, IsOk());
  for (int seed = 1; seed <= 3; ++seed) {
    ManifestInfo info;
    info.job_id = absl::StrCat("fake-", seed);
    auto published = (*registry)->Publish("fake", FakeCheckpoint(absl::StrCat(dir_, "/ckpt", seed), seed), info);
    ASSERT_THAT(published, IsOk());
  }
  TrainerClient client(trainer_.address());
  ASSERT_THAT(client.SetAlias("fake", "production", 3, "ops"), IsOk());
  ASSERT_THAT(WriteFileAtomic(dir_ + "/registry/models/fake/versions/3/manifest.json", "not a manifest"), IsOk());

  auto listing = client.ListVersions("fake");
  ASSERT_THAT(listing, IsOk());
  ASSERT_EQ(listing->versions_size(), 2);
  ASSERT_EQ(listing->problems_size(), 1);
  EXPECT_EQ(listing->problems(0).version(), 3);
  EXPECT_EQ(client.GetVersion("fake")->version(), 2) << "latest is the newest readable version";
  EXPECT_THAT(client.GetVersion("fake@production"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(client.SetAlias("fake", "staging", 3, "ops"), StatusIs(absl::StatusCode::kDataLoss));
  const std::string versions = RunCli("versions --server " + trainer_.address() + " fake");
  EXPECT_NE(versions.find("3        DAMAGED manifest of version 3"), std::string::npos) << versions;

  // The repair, from the CLI: the alias moves off the damaged version.
  const std::string moved = RunCli("alias --server " + trainer_.address() + " fake production 2 --actor ops");
  EXPECT_NE(moved.find("fake@production -> 2 (was 3)"), std::string::npos) << moved;
  EXPECT_EQ(client.GetVersion("fake@production")->version(), 2);

  // A garbage audit entry: listed, and moves still work.
  ASSERT_THAT(WriteFileAtomic(dir_ + "/registry/models/fake/audit/00000000000000000003.json", "garbage\n"), IsOk());
  listing = client.ListVersions("fake");
  ASSERT_THAT(listing, IsOk());
  EXPECT_EQ(listing->problems_size(), 3) << "the manifest, the entry, and the alias it may have moved";
  EXPECT_THAT(client.SetAlias("fake", "production", 1, "ops"), IsOk());
  EXPECT_EQ(client.GetVersion("fake@production")->version(), 1);

  // A payload orphaned by a crashed publish, long ago: gc (RPC and CLI) deletes it and only it.
  const std::string orphan = dir_ + "/registry/models/fake/payloads/1600000000000-0123456789abcdef0123456789abcdef";
  FakeCheckpoint(orphan, 9);
  const std::string dry = RunCli("gc --server " + trainer_.address() + " --dry-run");
  EXPECT_NE(dry.find("skipped models/fake/"), std::string::npos) << "version 3's manifest is unreadable: " << dry;
  EXPECT_TRUE(std::filesystem::exists(orphan));
  std::filesystem::remove_all(dir_ + "/registry/models/fake/versions/3");  // an operator deletes the wreck
  const std::string collected = RunCli("gc --server " + trainer_.address() + " --min-age-seconds 0");
  EXPECT_NE(collected.find("deleted models/fake/payloads/1600000000000-0123456789abcdef0123456789abcdef/"),
            std::string::npos)
      << collected;
  EXPECT_FALSE(std::filesystem::exists(orphan));
  for (int64_t version : {1, 2}) EXPECT_TRUE((*registry)->VerifyVersion("fake", version).ok()) << version;
}

// The registry's disk fills while a job publishes: the job fails with the reason, no version is
// half-written, the earlier version still verifies, and the trainer goes on serving.
TEST_F(TrainerServiceTest, DiskFullWhilePublishingFailsTheJobCleanly) {
  const std::string small = dir_ + "/small-disk";
  ::promptintern::testing::ScopedTmpfs small_disk;
  if (const std::string why = small_disk.Mount(small, "64k"); !why.empty()) GTEST_SKIP() << why;
  trainer_.Stop(SIGTERM);
  {
    auto registry = ModelRegistry::OpenLocal(small + "/registry");
    ASSERT_THAT(registry, IsOk());
    ASSERT_TRUE((*registry)->Publish("earlier", FakeCheckpoint(dir_ + "/ckpt", 1), ManifestInfo()).ok());
  }
  ASSERT_TRUE(trainer_.Start(BinaryDir() + "/promptintern-trainer",
                             {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", dir_ + "/data",
                              "--registry-dir", small + "/registry", "--threads", "1"},
                             Log()));
  TrainerClient client(trainer_.address());
  auto job = client.SubmitJob(TinyJobYaml("too-big", 4));
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(WatchToEnd(client, job->job_id()).back().kind(), v1::JobEvent::KIND_FAILED);
  auto failed = client.GetJob(job->job_id());
  EXPECT_NE(failed->error().find("publishing failed"), std::string::npos) << failed->error();
  EXPECT_NE(failed->error().find("No space left on device"), std::string::npos) << failed->error();
  EXPECT_EQ(*client.ListModels(), std::vector<std::string>{"earlier"});
  EXPECT_TRUE(client.GetVersion("earlier@1").ok()) << "verified by the service";
  EXPECT_TRUE(std::filesystem::is_empty(small + "/registry/.tmp"));
  EXPECT_FALSE(std::filesystem::exists(small + "/registry/models/too-big/versions"));
  EXPECT_TRUE(HealthServing(trainer_.address()));
  trainer_.Stop(SIGTERM);
}

}  // namespace
}  // namespace promptintern
