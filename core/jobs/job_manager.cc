#include "core/jobs/job_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/registry/manifest.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr char kJobsDir[] = "jobs";
constexpr char kRecordFile[] = "job.json";
constexpr char kEventsFile[] = "events.jsonl";
constexpr char kRunDir[] = "run";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

const std::vector<std::pair<JobState, absl::string_view>>& StateNames() {
  static const auto* names = new std::vector<std::pair<JobState, absl::string_view>>{
      {JobState::kQueued, "queued"},       {JobState::kRunning, "running"},
      {JobState::kSucceeded, "succeeded"}, {JobState::kFailed, "failed"},
      {JobState::kCancelled, "cancelled"}};
  return *names;
}

const std::vector<std::pair<JobEvent::Kind, absl::string_view>>& KindNames() {
  using Kind = JobEvent::Kind;
  static const auto* names = new std::vector<std::pair<Kind, absl::string_view>>{
      {Kind::kQueued, "queued"},         {Kind::kStarted, "started"},     {Kind::kStageStarted, "stage_started"},
      {Kind::kProgress, "progress"},     {Kind::kEvaluation, "evaluation"}, {Kind::kCheckpoint, "checkpoint"},
      {Kind::kPublished, "published"},   {Kind::kSucceeded, "succeeded"}, {Kind::kFailed, "failed"},
      {Kind::kCancelled, "cancelled"}};
  return *names;
}

template <typename Enum>
Enum ParseName(const std::vector<std::pair<Enum, absl::string_view>>& names, const std::string& name, Enum fallback) {
  for (const auto& [value, text] : names) {
    if (text == name) return value;
  }
  return fallback;
}

json RecordToJson(const JobRecord& record) {
  return {{"id", record.id},
          {"name", record.name},
          {"state", std::string(JobStateName(record.state))},
          {"yaml", record.yaml},
          {"base_dir", record.base_dir},
          {"created_unix_ms", record.created_unix_ms},
          {"started_unix_ms", record.started_unix_ms},
          {"finished_unix_ms", record.finished_unix_ms},
          {"stage", record.stage},
          {"num_stages", record.num_stages},
          {"step", record.step},
          {"total_steps", record.total_steps},
          {"loss", record.loss},
          {"error", record.error},
          {"model_name", record.model_name},
          {"model_version", record.model_version}};
}

JobRecord RecordFromJson(const json& value) {
  JobRecord record;
  record.id = value.at("id").get<std::string>();
  record.name = value.value("name", "");
  record.state = ParseName(StateNames(), value.value("state", "failed"), JobState::kFailed);
  record.yaml = value.value("yaml", "");
  record.base_dir = value.value("base_dir", "");
  record.created_unix_ms = value.value("created_unix_ms", int64_t{0});
  record.started_unix_ms = value.value("started_unix_ms", int64_t{0});
  record.finished_unix_ms = value.value("finished_unix_ms", int64_t{0});
  record.stage = value.value("stage", 0);
  record.num_stages = value.value("num_stages", 0);
  record.step = value.value("step", int64_t{0});
  record.total_steps = value.value("total_steps", int64_t{0});
  record.loss = value.value("loss", 0.0);
  record.error = value.value("error", "");
  record.model_name = value.value("model_name", "");
  record.model_version = value.value("model_version", int64_t{0});
  return record;
}

json EventToJson(const JobEvent& event) {
  const PipelineEvent& p = event.pipeline;
  return {{"sequence", event.sequence},
          {"kind", std::string(JobEventKindName(event.kind))},
          {"unix_ms", event.unix_ms},
          {"stage", p.stage},
          {"num_stages", p.num_stages},
          {"step", p.step},
          {"total_steps", p.total_steps},
          {"loss", p.loss},
          {"learning_rate", p.learning_rate},
          {"tokens_per_second", p.tokens_per_second},
          {"eta_seconds", p.eta_seconds},
          {"keep_ratio", p.keep_ratio},
          {"num_examples", p.num_examples},
          {"metrics", p.metrics},
          {"message", event.message},
          {"model_name", event.model_name},
          {"model_version", event.model_version}};
}

JobEvent EventFromJson(const json& value) {
  JobEvent event;
  event.sequence = value.value("sequence", int64_t{0});
  event.kind = ParseName(KindNames(), value.value("kind", "failed"), JobEvent::Kind::kFailed);
  event.unix_ms = value.value("unix_ms", int64_t{0});
  PipelineEvent& p = event.pipeline;
  p.stage = value.value("stage", 0);
  p.num_stages = value.value("num_stages", 0);
  p.step = value.value("step", int64_t{0});
  p.total_steps = value.value("total_steps", int64_t{0});
  p.loss = value.value("loss", 0.0);
  p.learning_rate = value.value("learning_rate", 0.0);
  p.tokens_per_second = value.value("tokens_per_second", 0.0);
  p.eta_seconds = value.value("eta_seconds", 0.0);
  p.keep_ratio = value.value("keep_ratio", 0.0);
  p.num_examples = value.value("num_examples", 0);
  if (value.contains("metrics") && value["metrics"].is_object()) {
    p.metrics = value["metrics"].get<std::map<std::string, double>>();
  }
  event.message = value.value("message", "");
  event.model_name = value.value("model_name", "");
  event.model_version = value.value("model_version", int64_t{0});
  return event;
}

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

}  // namespace

absl::string_view JobStateName(JobState state) {
  for (const auto& [value, name] : StateNames()) {
    if (value == state) return name;
  }
  return "unknown";
}

bool IsFinal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled;
}

absl::string_view JobEventKindName(JobEvent::Kind kind) {
  for (const auto& [value, name] : KindNames()) {
    if (value == kind) return name;
  }
  return "unknown";
}

struct JobManager::Impl {
  struct Entry {
    JobRecord record;
    JobSpec spec;
    std::vector<JobEvent> events;
    bool cancel_requested = false;
  };

  JobManagerOptions options;
  Publisher publisher;
  mutable absl::Mutex mu;
  mutable absl::CondVar changed;
  std::map<std::string, Entry> jobs ABSL_GUARDED_BY(mu);
  std::deque<std::string> queue ABSL_GUARDED_BY(mu);
  bool shutting_down ABSL_GUARDED_BY(mu) = false;
  std::vector<std::thread> workers;

  std::string JobDir(const std::string& id) const { return JoinPath(JoinPath(options.data_dir, kJobsDir), id); }

  absl::StatusOr<JobSpec> SpecFor(const std::string& id, const JobRecord& record) const {
    if (!record.base_dir.empty() && record.base_dir.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat("base_dir: '", record.base_dir, "' is not an absolute path"));
    }
    ASSIGN_OR_RETURN(JobSpec spec,
                     ParseJobSpec(record.yaml, record.base_dir.empty() ? options.working_dir : record.base_dir));
    const std::string& name = record.name;
    if (!name.empty()) spec.name = name;
    // The name becomes the registry model name: refuse now what publishing would refuse later.
    if (absl::Status valid = ValidateModelName(spec.name); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("name: ", valid.message()));
    }
    if (spec.threads == 0) spec.threads = options.default_threads;
    spec.output_dir = JoinPath(JobDir(id), kRunDir);
    return spec;
  }

  // Writes the record; on failure the job goes on (the next write retries) but the error is kept.
  void Persist(const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Status status =
        WriteFileAtomic(JoinPath(JobDir(entry.record.id), kRecordFile), RecordToJson(entry.record).dump(1) + "\n");
    if (!status.ok()) std::fprintf(stderr, "trainer: cannot persist job %s: %s\n", entry.record.id.c_str(),
                                   std::string(status.message()).c_str());
  }

  void Record(Entry& entry, JobEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    event.sequence = static_cast<int64_t>(entry.events.size());
    event.unix_ms = NowMs();
    const std::string line = EventToJson(event).dump() + "\n";
    const std::string path = JoinPath(JobDir(entry.record.id), kEventsFile);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    entry.events.push_back(event);
    Persist(entry);
    if (options.observer) options.observer(entry.record, event);
    changed.SignalAll();
  }

  void Finish(Entry& entry, JobState state, JobEvent::Kind kind, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    entry.record.state = state;
    entry.record.finished_unix_ms = NowMs();
    if (state == JobState::kFailed) entry.record.error = message;
    JobEvent event;
    event.kind = kind;
    event.message = message;
    event.model_name = entry.record.model_name;
    event.model_version = entry.record.model_version;
    Record(entry, event);
  }

  void RunJob(const std::string& id) {
    JobSpec spec;
    {
      absl::MutexLock lock(&mu);
      Entry& entry = jobs.at(id);
      entry.record.state = JobState::kRunning;
      if (entry.record.started_unix_ms == 0) entry.record.started_unix_ms = NowMs();
      JobEvent started;
      started.kind = JobEvent::Kind::kStarted;
      Record(entry, started);
      spec = entry.spec;
    }
    PipelineControl control;
    control.on_event = [this, &id](const PipelineEvent& pipeline_event) {
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
    };
    control.should_stop = [this, &id] {
      absl::MutexLock lock(&mu);
      return shutting_down || jobs.at(id).cancel_requested;
    };
    absl::StatusOr<PipelineReport> report = RunPipeline(spec, control);

    absl::MutexLock lock(&mu);
    Entry& entry = jobs.at(id);
    if (!report.ok()) {
      if (report.status().code() == absl::StatusCode::kCancelled && !entry.cancel_requested) {
        return;  // shutting down: stays RUNNING on disk and resumes at the next start
      }
      if (report.status().code() == absl::StatusCode::kCancelled) {
        Finish(entry, JobState::kCancelled, JobEvent::Kind::kCancelled, "cancelled");
      } else {
        Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed, std::string(report.status().message()));
      }
      return;
    }
    const JobRecord record = entry.record;
    mu.Unlock();
    absl::StatusOr<PublishedVersion> published = publisher(record, spec, *report);
    mu.Lock();
    if (!published.ok()) {
      Finish(entry, JobState::kFailed, JobEvent::Kind::kFailed,
             absl::StrCat("publishing failed: ", published.status().message()));
      return;
    }
    entry.record.model_name = published->model_name;
    entry.record.model_version = published->version;
    JobEvent event;
    event.kind = JobEvent::Kind::kPublished;
    event.model_name = published->model_name;
    event.model_version = published->version;
    event.message = absl::StrCat(published->model_name, "@", published->version);
    Record(entry, event);
    Finish(entry, JobState::kSucceeded, JobEvent::Kind::kSucceeded, "");
  }

  void WorkerLoop() {
    while (true) {
      std::string id;
      {
        absl::MutexLock lock(&mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return shutting_down || !queue.empty(); };
        mu.Await(absl::Condition(&ready));
        if (shutting_down) return;
        id = queue.front();
        queue.pop_front();
      }
      RunJob(id);
    }
  }

  absl::Status Load() {
    const std::filesystem::path root = JoinPath(options.data_dir, kJobsDir);
    std::error_code error;
    std::filesystem::create_directories(root, error);
    if (error) return absl::InternalError(absl::StrCat("cannot create ", root.string(), ": ", error.message()));
    std::vector<Entry> loaded;
    for (const auto& dir : std::filesystem::directory_iterator(root)) {
      const std::string record_path = (dir.path() / kRecordFile).string();
      auto text = ReadFile(record_path);
      if (!text.ok()) continue;  // a job directory whose first record never landed: nothing was accepted
      const json value = json::parse(*text, nullptr, false);
      if (value.is_discarded() || !value.is_object() || !value.contains("id")) {
        std::fprintf(stderr, "trainer: skipping unreadable job record %s\n", record_path.c_str());
        continue;
      }
      Entry entry;
      entry.record = RecordFromJson(value);
      if (entry.record.id != dir.path().filename().string()) continue;
      std::ifstream events(dir.path() / kEventsFile);
      std::string line;
      while (std::getline(events, line)) {
        const json event = json::parse(line, nullptr, false);
        if (event.is_discarded()) break;  // a line cut short by a crash ends the history
        entry.events.push_back(EventFromJson(event));
        entry.events.back().sequence = static_cast<int64_t>(entry.events.size()) - 1;
      }
      loaded.push_back(std::move(entry));
    }
    std::sort(loaded.begin(), loaded.end(),
              [](const Entry& a, const Entry& b) { return a.record.created_unix_ms < b.record.created_unix_ms; });
    absl::MutexLock lock(&mu);
    for (Entry& entry : loaded) {
      const std::string id = entry.record.id;
      if (!IsFinal(entry.record.state)) {
        auto spec = SpecFor(id, entry.record);
        if (!spec.ok()) {
          jobs[id] = std::move(entry);
          Finish(jobs[id], JobState::kFailed, JobEvent::Kind::kFailed,
                 absl::StrCat("cannot resume: ", spec.status().message()));
          continue;
        }
        entry.spec = *spec;
        queue.push_back(id);
      }
      jobs[id] = std::move(entry);
    }
    return absl::OkStatus();
  }
};

JobManager::JobManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JobManager::~JobManager() { Shutdown(); }

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Start(JobManagerOptions options, Publisher publisher) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("trainer data directory is empty");
  if (options.max_concurrent_jobs < 1) return absl::InvalidArgumentError("max_concurrent_jobs must be at least 1");
  if (options.max_queued_jobs < 1) return absl::InvalidArgumentError("max_queued_jobs must be at least 1");
  if (options.working_dir.empty()) options.working_dir = std::filesystem::current_path().string();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->publisher = std::move(publisher);
  RETURN_IF_ERROR(impl->Load());
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
  RETURN_IF_ERROR(MakeDirectories(impl_->JobDir(entry.record.id)));

  absl::MutexLock lock(&impl_->mu);
  if (impl_->shutting_down) return absl::UnavailableError("the trainer is shutting down");
  if (static_cast<int>(impl_->queue.size()) >= impl_->options.max_queued_jobs) {
    std::filesystem::remove_all(impl_->JobDir(entry.record.id));
    return absl::ResourceExhaustedError(absl::StrCat("the job queue is full (", impl_->options.max_queued_jobs,
                                                     " jobs waiting); try again later"));
  }
  const std::string id = entry.record.id;
  Impl::Entry& stored = impl_->jobs[id] = std::move(entry);
  JobEvent queued;
  queued.kind = JobEvent::Kind::kQueued;
  impl_->Record(stored, queued);
  impl_->queue.push_back(id);
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
  return entry.record;
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

void JobManager::Shutdown() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->shutting_down = true;
    impl_->changed.SignalAll();
  }
  for (std::thread& worker : impl_->workers) {
    if (worker.joinable()) worker.join();
  }
}

std::map<JobState, int> JobManager::CountByState() const {
  absl::MutexLock lock(&impl_->mu);
  std::map<JobState, int> counts;
  for (const auto& [value, name] : StateNames()) counts[value] = 0;
  for (const auto& [id, entry] : impl_->jobs) ++counts[entry.record.state];
  return counts;
}

std::string JobRunDirectory(const std::string& data_dir, const std::string& job_id) {
  return JoinPath(JoinPath(JoinPath(data_dir, kJobsDir), job_id), kRunDir);
}

}  // namespace promptintern
