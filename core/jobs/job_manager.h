// The trainer's job queue: accepts job files, runs them one at a time (configurable) through the
// PromptIntern pipeline, and publishes each result once. Every job's record and event history sit
// on disk under <data_dir>/jobs/<id>/, so a restarted trainer lists past jobs and resumes an
// interrupted one from its last checkpoint; a job's registry publish is keyed by its id, so a job
// that crashed after publishing does not publish twice.
//
// Nothing a job does can take the trainer down or wedge it:
//   * records read from disk are parsed by job_record.h, which returns a status: a damaged job is
//     marked failed with the reason (the damaged file is kept beside, renamed *.damaged-<ms>)
//     and the trainer starts and serves the others;
//   * no exception leaves a job thread: whatever a job throws fails that job, with the reason;
//   * a job that was running when the trainer died three runs in a row (a crash, an OOM kill) is
//     not resumed again but marked failed, so no job can crash-loop the trainer;
//   * every job value is bounded at submit time (JobSpecOptions: allowed paths, machine limits);
//   * record and event writes (with their fsyncs) happen outside the manager's lock, in order per
//     job, so a slow disk never stalls Get, List or Watch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/jobs/job_record.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern {

struct PublishedVersion {
  std::string model_name;
  int64_t version = 0;
  // The job's promotion gate, when it has one: whether its alias moved onto the version, and why.
  std::optional<PromotionCheck> promotion;
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
  // Compute threads for jobs whose file leaves `threads` at 0 (0 = all cores).
  int default_threads = 0;
  // Bounds and allowed paths for every job file, at submit and again when a job resumes.
  JobSpecOptions spec_options;
  // Passed to every job's pipeline (PipelineControl::open_reference): a promotion gate's registry
  // reference as a local checkpoint directory.
  std::function<absl::StatusOr<std::string>(const std::string& reference)> open_reference;
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
  // then joins the workers. Idempotent. False when a job has not stopped within `timeout` (it is
  // in a phase that does not poll for stops, or its disk hangs): the workers are left running and
  // the caller should end the process; the job resumes from its last checkpoint at the next Start.
  bool Shutdown(absl::Duration timeout = absl::InfiniteDuration());

  std::map<JobState, int> CountByState() const;

 private:
  struct Impl;
  explicit JobManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace promptintern
