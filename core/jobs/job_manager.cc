#include "core/jobs/job_manager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/registry/manifest.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

// A job that was running when the trainer died this many runs in a row is not resumed again.
constexpr int kMaxUnfinishedRuns = 3;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

JobEvent::Kind KindOf(PipelineEvent::Kind kind) {
  switch (kind) {
    case PipelineEvent::Kind::kStageStarted: return JobEvent::Kind::kStageStarted;
    case PipelineEvent::Kind::kProgress: return JobEvent::Kind::kProgress;
    case PipelineEvent::Kind::kEvaluation: return JobEvent::Kind::kEvaluation;
    case PipelineEvent::Kind::kCheckpoint: return JobEvent::Kind::kCheckpoint;
    case PipelineEvent::Kind::kCompleted: return JobEvent::Kind::kCheckpoint;
  }
  return JobEvent::Kind::kProgress;
}

std::string NewJobId() {
  // One generator per thread: SubmitJob runs on many gRPC threads at once.
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrCat("job-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()), "-",
                      absl::StrFormat("%06x", random() & 0xffffff));
}

// Runs `body`, turning anything it throws into a status: no exception may leave a job thread.
template <typename Result, typename Body>
absl::StatusOr<Result> Guarded(absl::string_view what, Body body) {
  try {
    return body();
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat(what, " failed with an exception: ", error.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, " failed with an unknown exception"));
  }
}

// Appends `lines` to events.jsonl (first cutting it to `truncate_to` bytes, when set: the torn end
// of an append a crash interrupted), then replaces job.json with `record` when non-empty.
absl::Status WriteJobFiles(const std::string& dir, const std::string& lines, const std::string& record,
                           std::optional<size_t> truncate_to) {
  if (!lines.empty()) {
    const std::string path = JoinPath(dir, kJobEventsFile);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("cannot open", path, errno);
    absl::Status status;
    if (truncate_to && ::ftruncate(fd, static_cast<off_t>(*truncate_to)) != 0) {
      status = ErrnoStatus("cannot truncate", path, errno);
    }
    for (size_t written = 0; status.ok() && written < lines.size();) {
      const ssize_t n = ::write(fd, lines.data() + written, lines.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = ErrnoStatus("cannot append to", path, errno);
        break;
      }
      written += static_cast<size_t>(n);
    }
    ::close(fd);
    RETURN_IF_ERROR(status);
  }
  if (record.empty()) return absl::OkStatus();
  return WriteFileAtomic(JoinPath(dir, kJobRecordFile), record);
}

// Moves a damaged record aside, never deleting it. False (with `report` saying so) when it could
// not be moved: then nothing may write over it.
bool Quarantine(const std::string& path, std::string* report) {
  const std::string kept = absl::StrCat(path, ".damaged-", NowMs());
  if (::rename(path.c_str(), kept.c_str()) != 0) {
    absl::StrAppend(report, "; it could not be moved aside (", std::strerror(errno), ") and is left as it is");
    return false;
  }
  absl::StrAppend(report, "; the damaged file is kept as ", kept);
  return true;
}

int64_t ModifiedUnixMs(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return 0;
  return static_cast<int64_t>(info.st_mtim.tv_sec) * 1000 + info.st_mtim.tv_nsec / 1000000;
}

}  // namespace

struct JobManager::Impl {
  // A job's pending writes. Record() queues them under `mu`; Flush() performs them without `mu`,
  // holding `io` so that the job's writes land in the order they were recorded.
  struct Journal {
    absl::Mutex io;
    std::string lines;    // events.jsonl lines not yet appended (guarded by Impl::mu)
    std::string record;   // job.json text not yet written, "" = none (guarded by Impl::mu)
    std::optional<size_t> truncate_events_to;  // guarded by Impl::mu
    // Set for a damaged job whose files could not be moved aside: they are never written over.
    bool read_only = false;  // guarded by Impl::mu
  };

  struct Entry {
    JobRecord record;
    JobSpec spec;
    std::vector<JobEvent> events;
    bool cancel_requested = false;
    std::shared_ptr<Journal> journal = std::make_shared<Journal>();
  };

  JobManagerOptions options;
  Publisher publisher;
  mutable absl::Mutex mu;
  mutable absl::CondVar changed;
  std::map<std::string, Entry> jobs ABSL_GUARDED_BY(mu);
  std::deque<std::string> queue ABSL_GUARDED_BY(mu);
  bool shutting_down ABSL_GUARDED_BY(mu) = false;
  int live_workers ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::thread> workers;

  std::string JobDir(const std::string& id) const { return JoinPath(JoinPath(options.data_dir, kJobsDir), id); }

  absl::StatusOr<JobSpec> SpecFor(const std::string& id, const JobRecord& record) const {
    if (!record.base_dir.empty() && record.base_dir.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat("base_dir: '", record.base_dir, "' is not an absolute path"));
    }
    ASSIGN_OR_RETURN(JobSpec spec, ParseJobSpec(record.yaml, record.base_dir.empty() ? options.working_dir : record.base_dir,
                                                options.spec_options));
    const std::string& name = record.name;
    if (!name.empty()) spec.name = name;
    // The name becomes the registry model name: refuse now what publishing would refuse later.
    if (absl::Status valid = ValidateModelName(spec.name); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("name: ", valid.message()));
    }
    if (spec.threads == 0) spec.threads = options.default_threads;
    spec.output_dir = JoinPath(JobDir(id), kJobRunDir);
    return spec;
  }

  // Queues the record for writing.
  void Persist(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    entry.journal->record = SerializeJobRecord(entry.record);
  }

  // Adds the event to the job's history (watchers see it at once) and queues it and the record
  // for writing; the caller calls Flush(id) once it has released `mu`.
  void Record(Entry& entry, JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    event.sequence = static_cast<int64_t>(entry.events.size());
    event.unix_ms = NowMs();
    entry.journal->lines += SerializeJobEvent(event);
    entry.events.push_back(event);
    Persist(entry);
    if (options.observer) options.observer(entry.record, event);
    changed.SignalAll();
  }

  // Writes what Record and Persist queued for the job. On failure the job goes on (the next write
  // of job.json carries the latest state again) but the error is logged.
  void Flush(const std::string& id) ABSL_LOCKS_EXCLUDED(mu) {
    std::shared_ptr<Journal> journal;
    {
      absl::MutexLock lock(&mu);
      const auto found = jobs.find(id);
      if (found == jobs.end()) return;
      journal = found->second.journal;
    }
    absl::MutexLock io(&journal->io);
    while (true) {
      std::string lines, record;
      std::optional<size_t> truncate_to;
      {
        absl::MutexLock lock(&mu);
        lines.swap(journal->lines);
        record.swap(journal->record);
        if (!lines.empty()) std::swap(truncate_to, journal->truncate_events_to);
        if (journal->read_only) return;
      }
      if (lines.empty() && record.empty()) return;
      if (absl::Status status = WriteJobFiles(JobDir(id), lines, record, truncate_to); !status.ok()) {
        std::fprintf(stderr, "trainer: cannot persist job %s: %s\n", id.c_str(), std::string(status.message()).c_str());
      }
    }
  }

  void Finish(Entry& entry, JobState state, JobEvent::Kind kind, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    entry.record.state = state;
    entry.record.finished_unix_ms = NowMs();
    entry.record.unfinished_runs = 0;
    if (state == JobState::kFailed) entry.record.error = message;
    JobEvent event;
    event.kind = kind;
    event.message = message;
    event.model_name = entry.record.model_name;
    event.model_version = entry.record.model_version;
    Record(entry, event);
  }

  void Fail(const std::string& id, const std::string& message) ABSL_LOCKS_EXCLUDED(mu) {
    {
      absl::MutexLock lock(&mu);
      Entry& entry = jobs.at(id);
      if (IsFinal(entry.record.state)) return;
      Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed, message);
    }
    Flush(id);
  }

  void RunJob(const std::string& id) {
    JobSpec spec;
    {
      absl::MutexLock lock(&mu);
      Entry& entry = jobs.at(id);
      entry.record.state = JobState::kRunning;
      if (entry.record.started_unix_ms == 0) entry.record.started_unix_ms = NowMs();
      ++entry.record.unfinished_runs;  // durable before the run starts: a crash during it counts
      JobEvent started;
      started.kind = JobEvent::Kind::kStarted;
      Record(entry, started);
      spec = entry.spec;
    }
    Flush(id);
    PipelineControl control;
    control.on_event = [this, &id](const PipelineEvent& pipeline_event) {
      {
        absl::MutexLock lock(&mu);
        Entry& entry = jobs.at(id);
        entry.record.stage = pipeline_event.stage;
        entry.record.num_stages = pipeline_event.num_stages;
        entry.record.step = pipeline_event.step;
        entry.record.total_steps = pipeline_event.total_steps;
        if (pipeline_event.kind == PipelineEvent::Kind::kProgress) entry.record.loss = pipeline_event.loss;
        JobEvent event;
        event.kind = KindOf(pipeline_event.kind);
        event.pipeline = pipeline_event;
        event.message = pipeline_event.message;
        Record(entry, event);
      }
      Flush(id);
    };
    control.open_reference = options.open_reference;
    control.should_stop = [this, &id] {
      absl::MutexLock lock(&mu);
      return shutting_down || jobs.at(id).cancel_requested;
    };
    const absl::StatusOr<PipelineReport> report =
        Guarded<PipelineReport>("the job", [&] { return RunPipeline(spec, control); });

    {
      absl::MutexLock lock(&mu);
      Entry& entry = jobs.at(id);
      if (!report.ok()) {
        if (report.status().code() == absl::StatusCode::kCancelled && !entry.cancel_requested) {
          // Shutting down: checkpointed, stays RUNNING on disk and resumes at the next start.
          entry.record.unfinished_runs = 0;
          Persist(entry);
        } else if (report.status().code() == absl::StatusCode::kCancelled) {
          Finish(entry, JobState::kCancelled, JobEvent::Kind::kCancelled, "cancelled");
        } else {
          Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed, std::string(report.status().message()));
        }
      }
    }
    if (!report.ok()) return Flush(id);

    JobRecord record;
    {
      absl::MutexLock lock(&mu);
      record = jobs.at(id).record;
    }
    const absl::StatusOr<PublishedVersion> published =
        Guarded<PublishedVersion>("publishing", [&] { return publisher(record, spec, *report); });
    {
      absl::MutexLock lock(&mu);
      Entry& entry = jobs.at(id);
      if (!published.ok()) {
        Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed,
               absl::StrCat("publishing failed: ", published.status().message()));
      } else {
        entry.record.model_name = published->model_name;
        entry.record.model_version = published->version;
        JobEvent event;
        event.kind = JobEvent::Kind::kPublished;
        event.model_name = published->model_name;
        event.model_version = published->version;
        event.message = absl::StrCat(published->model_name, "@", published->version);
        Record(entry, event);
        if (published->promotion) {
          const PromotionCheck& check = *published->promotion;
          JobEvent promotion;
          promotion.kind = JobEvent::Kind::kPromotion;
          promotion.model_name = published->model_name;
          promotion.model_version = published->version;
          promotion.pipeline.metrics = {{"promoted", check.passed ? 1.0 : 0.0},
                                        {"candidate", check.candidate},
                                        {"reference", check.reference_score},
                                        {"drop", check.drop},
                                        {"max_drop", check.max_drop}};
          promotion.message = check.reason;
          Record(entry, promotion);
        }
        Finish(entry, JobState::kSucceeded, JobEvent::Kind::kSucceeded, "");
      }
    }
    Flush(id);
  }

  void WorkerLoop() {
    while (true) {
      std::string id;
      {
        absl::MutexLock lock(&mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return shutting_down || !queue.empty(); };
        mu.Await(absl::Condition(&ready));
        if (shutting_down) break;
        id = queue.front();
        queue.pop_front();
      }
      // RunJob guards the job's own work; this catches the rest (say, memory running out while
      // recording an event), so the worker and the trainer carry on.
      const absl::Status ran = Guarded<bool>("running the job", [&] {
                                 RunJob(id);
                                 return true;
                               }).status();
      if (!ran.ok()) {
        Guarded<bool>("failing the job", [&] {
          Fail(id, std::string(ran.message()));
          return true;
        }).IgnoreError();
      }
    }
    absl::MutexLock lock(&mu);
    --live_workers;
  }

  struct LoadedJob {
    Entry entry;
    std::string damage;  // what was wrong with its files; "" when nothing
    bool record_readable = true;
  };

  // One job directory from disk. Damage never stops the load: it is reported in `damage` and the
  // damaged file is moved aside.
  std::optional<LoadedJob> LoadJob(const std::filesystem::path& dir) {
    const std::string id = dir.filename().string();
    const std::string record_path = (dir / kJobRecordFile).string();
    if (!PathExists(record_path)) return std::nullopt;  // its first record never landed: never accepted
    LoadedJob loaded;
    Entry& entry = loaded.entry;
    std::vector<std::string> damage;
    absl::StatusOr<std::string> text = ReadFile(record_path);
    absl::StatusOr<JobRecord> record = text.ok() ? ParseJobRecord(*text) : text.status();
    if (record.ok() && record->id != id) {
      record = absl::DataLossError(absl::StrCat("it names job '", record->id, "'"));
    }
    if (record.ok()) {
      entry.record = *std::move(record);
    } else {
      std::string report = absl::StrCat(kJobRecordFile, " is damaged (", record.status().message(), ")");
      if (!Quarantine(record_path, &report)) entry.journal->read_only = true;
      damage.push_back(std::move(report));
      loaded.record_readable = false;
      entry.record.id = id;
      entry.record.state = JobState::kRunning;  // unknown; Load marks it failed
      entry.record.created_unix_ms = ModifiedUnixMs(dir.string());
    }
    const std::string events_path = (dir / kJobEventsFile).string();
    if (PathExists(events_path)) {
      absl::StatusOr<std::string> events_text = ReadFile(events_path);
      JobEventLog log = events_text.ok() ? ParseJobEventLog(*events_text) : JobEventLog{};
      if (!events_text.ok()) log.damage = events_text.status();
      entry.events = std::move(log.events);
      if (!log.damage.ok()) {
        // The history goes on from the events before the damage; the whole original is kept aside.
        std::string report = absl::StrCat(kJobEventsFile, " is damaged (", log.damage.message(), ")");
        if (Quarantine(events_path, &report)) {
          entry.journal->truncate_events_to = 0;
          for (const JobEvent& event : entry.events) entry.journal->lines += SerializeJobEvent(event);
        } else {
          entry.journal->read_only = true;
        }
        damage.push_back(std::move(report));
      } else if (events_text->size() > log.valid_bytes) {
        entry.journal->truncate_events_to = log.valid_bytes;
      }
    }
    loaded.damage = absl::StrJoin(damage, "; ");
    if (!damage.empty()) std::fprintf(stderr, "trainer: job %s: %s\n", id.c_str(), loaded.damage.c_str());
    return loaded;
  }

  absl::Status Load() {
    const std::filesystem::path root = JoinPath(options.data_dir, kJobsDir);
    RETURN_IF_ERROR(MakeDirectories(root.string()));
    std::vector<LoadedJob> loaded;
    std::error_code error;
    std::filesystem::directory_iterator it(root, error);
    for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      std::error_code type_error;
      if (!it->is_directory(type_error)) continue;
      if (std::optional<LoadedJob> job = LoadJob(it->path())) loaded.push_back(*std::move(job));
    }
    if (error) return absl::InternalError(absl::StrCat("cannot list ", root.string(), ": ", error.message()));
    std::sort(loaded.begin(), loaded.end(), [](const LoadedJob& a, const LoadedJob& b) {
      return a.entry.record.created_unix_ms < b.entry.record.created_unix_ms;
    });
    std::vector<std::string> ids;
    {
      absl::MutexLock lock(&mu);
      for (LoadedJob& job : loaded) {
        const std::string id = job.entry.record.id;
        Entry& entry = jobs[id] = std::move(job.entry);
        ids.push_back(id);
        if (!job.damage.empty()) {
          if (IsFinal(entry.record.state) && job.record_readable) {
            // Its outcome is known and stays; the damage to its history is reported with it.
            entry.record.error = entry.record.error.empty() ? job.damage : absl::StrCat(entry.record.error, "; ", job.damage);
            Persist(entry);
          } else {
            Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed, job.damage);
          }
          continue;
        }
        if (IsFinal(entry.record.state)) continue;
        if (entry.record.unfinished_runs >= kMaxUnfinishedRuns) {
          Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed,
                 absl::StrCat("the trainer stopped abnormally during the last ", entry.record.unfinished_runs,
                              " runs of this job (a crash, a kill or running out of memory); it is not resumed "
                              "again"));
          continue;
        }
        absl::StatusOr<JobSpec> spec = SpecFor(id, entry.record);
        if (!spec.ok()) {
          Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed,
                 absl::StrCat("cannot resume: ", spec.status().message()));
          continue;
        }
        entry.spec = *std::move(spec);
        queue.push_back(id);
      }
    }
    for (const std::string& id : ids) Flush(id);
    return absl::OkStatus();
  }
};

JobManager::JobManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JobManager::~JobManager() { Shutdown(); }

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Start(JobManagerOptions options, Publisher publisher) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("trainer data directory is empty");
  if (options.max_concurrent_jobs < 1) return absl::InvalidArgumentError("max_concurrent_jobs must be at least 1");
  if (options.max_queued_jobs < 1) return absl::InvalidArgumentError("max_queued_jobs must be at least 1");
  const int cores = options.spec_options.machine.cores;
  if (options.default_threads < 0 || options.default_threads > cores) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads: ", options.default_threads, " is not in [0, ", cores, "] (the cores of this machine)"));
  }
  if (options.working_dir.empty()) options.working_dir = std::filesystem::current_path().string();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->publisher = std::move(publisher);
  RETURN_IF_ERROR(impl->Load());
  {
    absl::MutexLock lock(&impl->mu);
    impl->live_workers = impl->options.max_concurrent_jobs;
  }
  for (int i = 0; i < impl->options.max_concurrent_jobs; ++i) {
    impl->workers.emplace_back([raw = impl.get()] { raw->WorkerLoop(); });
  }
  return std::unique_ptr<JobManager>(new JobManager(std::move(impl)));
}

absl::StatusOr<JobRecord> JobManager::Submit(const std::string& yaml, const std::string& name_override,
                                             const std::string& base_dir) {
  if (yaml.size() > impl_->options.max_job_yaml_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("job_yaml: ", yaml.size(), " bytes exceed the limit of ",
                                                   impl_->options.max_job_yaml_bytes));
  }
  Impl::Entry entry;
  entry.record.id = NewJobId();
  entry.record.yaml = yaml;
  entry.record.name = name_override;
  entry.record.base_dir = base_dir;
  ASSIGN_OR_RETURN(entry.spec, impl_->SpecFor(entry.record.id, entry.record));
  entry.record.name = entry.spec.name;
  entry.record.created_unix_ms = NowMs();
  JobEvent queued;
  queued.kind = JobEvent::Kind::kQueued;
  queued.unix_ms = entry.record.created_unix_ms;
  // Durable before anyone can see the job: an accepted job survives a crash right after. Nobody
  // else knows the id yet, so this needs no lock.
  const std::string dir = impl_->JobDir(entry.record.id);
  RETURN_IF_ERROR(MakeDirectories(dir));
  if (absl::Status written = WriteJobFiles(dir, SerializeJobEvent(queued), SerializeJobRecord(entry.record),
                                           std::nullopt);
      !written.ok()) {
    std::filesystem::remove_all(dir);
    return written;
  }
  entry.events.push_back(queued);

  absl::MutexLock lock(&impl_->mu);
  absl::Status refused;
  if (impl_->shutting_down) refused = absl::UnavailableError("the trainer is shutting down");
  if (static_cast<int>(impl_->queue.size()) >= impl_->options.max_queued_jobs) {
    refused = absl::ResourceExhaustedError(absl::StrCat("the job queue is full (", impl_->options.max_queued_jobs,
                                                        " jobs waiting); try again later"));
  }
  if (!refused.ok()) {
    std::filesystem::remove_all(dir);
    return refused;
  }
  const std::string id = entry.record.id;
  Impl::Entry& stored = impl_->jobs[id] = std::move(entry);
  if (impl_->options.observer) impl_->options.observer(stored.record, queued);
  impl_->queue.push_back(id);
  impl_->changed.SignalAll();
  return stored.record;
}

absl::StatusOr<JobRecord> JobManager::Get(const std::string& id) const {
  absl::MutexLock lock(&impl_->mu);
  const auto found = impl_->jobs.find(id);
  if (found == impl_->jobs.end()) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
  return found->second.record;
}

std::vector<JobRecord> JobManager::List() const {
  absl::MutexLock lock(&impl_->mu);
  std::vector<JobRecord> records;
  for (const auto& [id, entry] : impl_->jobs) records.push_back(entry.record);
  std::sort(records.begin(), records.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.created_unix_ms < b.created_unix_ms; });
  return records;
}

absl::StatusOr<JobRecord> JobManager::Cancel(const std::string& id) {
  JobRecord record;
  {
    absl::MutexLock lock(&impl_->mu);
    const auto found = impl_->jobs.find(id);
    if (found == impl_->jobs.end()) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
    Impl::Entry& entry = found->second;
    if (IsFinal(entry.record.state)) return entry.record;
    entry.cancel_requested = true;
    const auto queued = std::find(impl_->queue.begin(), impl_->queue.end(), id);
    if (queued != impl_->queue.end()) {
      impl_->queue.erase(queued);
      impl_->Finish(entry, JobState::kCancelled, JobEvent::Kind::kCancelled, "cancelled before it started");
    }
    record = entry.record;
  }
  impl_->Flush(id);
  return record;
}

absl::Status JobManager::Watch(const std::string& id, const std::function<bool(const JobEvent&)>& on_event,
                               const std::function<bool()>& stop) const {
  size_t next = 0;
  absl::MutexLock lock(&impl_->mu);
  if (impl_->jobs.count(id) == 0) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
  while (true) {
    const Impl::Entry& entry = impl_->jobs.at(id);
    while (next < entry.events.size()) {
      const JobEvent event = entry.events[next++];
      impl_->mu.Unlock();
      const bool more = on_event(event);
      impl_->mu.Lock();
      if (!more) return absl::OkStatus();
    }
    if (IsFinal(impl_->jobs.at(id).record.state)) return absl::OkStatus();
    if (stop && stop()) return absl::CancelledError("watch cancelled");
    if (impl_->shutting_down) return absl::UnavailableError("the trainer is shutting down");
    impl_->changed.WaitWithTimeout(&impl_->mu, absl::Milliseconds(100));
  }
}

bool JobManager::Shutdown(absl::Duration timeout) {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->shutting_down = true;
    impl_->changed.SignalAll();
    auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) { return impl_->live_workers == 0; };
    if (!impl_->mu.AwaitWithTimeout(absl::Condition(&stopped), timeout)) return false;
  }
  for (std::thread& worker : impl_->workers) {
    if (worker.joinable()) worker.join();
  }
  return true;
}

std::map<JobState, int> JobManager::CountByState() const {
  absl::MutexLock lock(&impl_->mu);
  std::map<JobState, int> counts;
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                         JobState::kCancelled}) {
    counts[state] = 0;
  }
  for (const auto& [id, entry] : impl_->jobs) ++counts[entry.record.state];
  return counts;
}

std::string JobRunDirectory(const std::string& data_dir, const std::string& job_id) {
  return JoinPath(JoinPath(JoinPath(data_dir, kJobsDir), job_id), kJobRunDir);
}

}  // namespace promptintern
