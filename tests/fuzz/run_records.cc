// Fuzz target: a run's records as they lie on disk, <output>/state/progress.json (read when a run
// resumes) and <output>/report.json (read by the experiment runner and `promptintern` commands),
// through their one reader each (core/pipeline/run_report.h). The input is read as both. Whatever
// it holds, the readers return a status, and a record that reads back writes and reads again to
// the same record.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/pipeline/run_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<promptintern::RunProgress> progress = promptintern::RunProgressFromText(input, "progress.json");
  if (progress.ok()) {
    const std::string written = promptintern::RunProgressToText(*progress);
    absl::StatusOr<promptintern::RunProgress> again = promptintern::RunProgressFromText(written, "again");
    if (!again.ok() || promptintern::RunProgressToText(*again) != written) std::abort();
  }
  const nlohmann::json value = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) {
    absl::StatusOr<promptintern::PipelineReport> report = promptintern::PipelineReportFromJson(value, "report.json");
    if (report.ok()) {
      const nlohmann::json written = promptintern::PipelineReportToJson(*report);
      absl::StatusOr<promptintern::PipelineReport> again = promptintern::PipelineReportFromJson(written, "again");
      if (!again.ok() || promptintern::PipelineReportToJson(*again) != written) std::abort();
    }
  }
  return 0;
}
