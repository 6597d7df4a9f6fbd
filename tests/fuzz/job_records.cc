// Fuzz target: a trainer job's records as they lie on disk, <data_dir>/jobs/<id>/job.json and
// events.jsonl, read by JobManager::Start when the trainer starts (core/jobs/job_manager.h). The
// input is job.json, then a NUL byte, then events.jsonl (no NUL: no events file); the directory is
// named after the record's "id" when that is a plain name, so the records get past the id check.
// Each input gets a fresh data directory under /dev/shm.
//
// A job the records leave queued or running would be resumed: the pipeline is not linked here,
// RunPipeline below fails it at once (this target is about reading records, not about training).
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/jobs/job_manager.h"
#include "core/util/file.h"

namespace promptintern {
absl::StatusOr<PipelineReport> RunPipeline(const JobSpec&, const PipelineControl&) {
  return absl::UnavailableError("the job_records fuzz target runs no pipeline");
}
}  // namespace promptintern

namespace {

std::string DirectoryName(const std::string& record) {
  const nlohmann::json value = nlohmann::json::parse(record, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object() || !value.contains("id") || !value["id"].is_string()) return "job";
  const std::string id = value["id"].get<std::string>();
  if (id.empty() || id.size() > 64 || id == "." || id == "..") return "job";
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return "job";
  }
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path root = "/dev/shm/promptintern_fuzz_job_records_" + std::to_string(::getpid());
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string record = input.substr(0, nul);
  std::filesystem::remove_all(root);
  const std::filesystem::path job_dir = root / "data" / "jobs" / DirectoryName(record);
  std::filesystem::create_directories(job_dir);
  std::filesystem::create_directories(root / "work");
  (void)promptintern::WriteFileAtomic((job_dir / "job.json").string(), record);
  if (nul != std::string::npos) {
    (void)promptintern::WriteFileAtomic((job_dir / "events.jsonl").string(), input.substr(nul + 1));
  }

  promptintern::JobManagerOptions options;
  options.data_dir = (root / "data").string();
  options.working_dir = (root / "work").string();
  auto publisher = [](const promptintern::JobRecord&, const promptintern::JobSpec&,
                      const promptintern::PipelineReport&) -> absl::StatusOr<promptintern::PublishedVersion> {
    return absl::UnavailableError("nothing is published while fuzzing");
  };
  auto jobs = promptintern::JobManager::Start(options, publisher);
  if (jobs.ok()) {
    for (const promptintern::JobRecord& job : (*jobs)->List()) {
      (void)(*jobs)->Get(job.id);
    }
    (void)(*jobs)->CountByState();
    (*jobs)->Shutdown();
  }
  return 0;
}
