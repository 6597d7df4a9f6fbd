// The trainer's job queue: accepts job files, runs them one at a time (configurable) through the
// PromptIntern pipeline, and publishes each result once. Every job's record and event history sit
// on disk under <data_dir>/jobs/<id>/, so a restarted trainer lists past jobs and resumes an
// interrupted one from its last checkpoint; a job's registry publish is keyed by its id, so a job
// that crashed after publishing does not publish twice.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
absl::string_view JobStateName(JobState state);
bool IsFinal(JobState state);

struct JobRecord {
  std::string id;
  std::string name;
  JobState state = JobState::kQueued;
  std::string yaml;
  std::string base_dir;  // relative paths of the job resolve against it; "" = the working directory
  int64_t created_unix_ms = 0;
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  int stage = 0;
  int num_stages = 0;
  int64_t step = 0;
  int64_t total_steps = 0;
  double loss = 0.0;
  std::string error;
  std::string model_name;
  int64_t model_version = 0;
};

struct JobEvent {
  enum class Kind { kQueued, kStarted, kStageStarted, kProgress, kEvaluation, kCheckpoint, kPublished, kSucceeded,
                    kFailed, kCancelled };
  int64_t sequence = 0;
  Kind kind = Kind::kQueued;
  int64_t unix_ms = 0;
  PipelineEvent pipeline;  // stage, step, loss, metrics... where the kind has them
  std::string message;
  std::string model_name;
  int64_t model_version = 0;
};
absl::string_view JobEventKindName(JobEvent::Kind kind);

struct PublishedVersion {
  std::string model_name;
  int64_t version = 0;
};

// Publishes a finished job's final checkpoint; must be idempotent for the same job id.
using Publisher =
    std::function<absl::StatusOr<PublishedVersion>(const JobRecord& job, const JobSpec& spec, const PipelineReport&)>;

struct JobManagerOptions {
  std::string data_dir;
  // Relative paths inside submitted job files resolve against this directory.
  std::string working_dir;
  int max_concurrent_jobs = 1;
  int max_queued_jobs = 64;
  size_t max_job_yaml_bytes = 1 << 20;
  // Compute threads for jobs whose file leaves `threads` at 0.
  int default_threads = 0;
  // Called (from job threads) after every event is recorded; for metrics.
  std::function<void(const JobRecord&, const JobEvent&)> observer;
};

// The run directory (report.json, examples/, final/) of job `job_id` under a trainer's data_dir, for
// tools on the same machine or storage (promptintern experiment --server --trainer-data-dir).
std::string JobRunDirectory(const std::string& data_dir, const std::string& job_id);

class JobManager {
 public:
  // Loads past jobs from data_dir and requeues the unfinished ones.
  static absl::StatusOr<std::unique_ptr<JobManager>> Start(JobManagerOptions options, Publisher publisher);
  ~JobManager();

  // INVALID_ARGUMENT (naming the field) for a bad job file; RESOURCE_EXHAUSTED when the queue is full.
  absl::StatusOr<JobRecord> Submit(const std::string& yaml, const std::string& name_override,
                                   const std::string& base_dir = "");
  absl::StatusOr<JobRecord> Get(const std::string& id) const;
  std::vector<JobRecord> List() const;
  absl::StatusOr<JobRecord> Cancel(const std::string& id);

  // Replays the job's events and follows new ones until the job reaches a final state, `on_event`
  // returns false, or `stop` returns true (polled about every 100 ms).
  absl::Status Watch(const std::string& id, const std::function<bool(const JobEvent&)>& on_event,
                     const std::function<bool()>& stop) const;

  // Checkpoints and stops running jobs (they stay RUNNING on disk and resume at the next Start),
  // then joins the workers. Idempotent.
  void Shutdown();

  std::map<JobState, int> CountByState() const;

 private:
  struct Impl;
  explicit JobManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace promptintern
