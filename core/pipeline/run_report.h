// The records a PromptIntern run writes, each with its one reader/writer pair:
//
//   ModeReport      one inference mode's evaluation; an entry of report.json "modes" and of every
//                   stage report's "validation"
//   StageReport     one progressive stage; an entry of report.json "stages", of state/progress.json
//                   "stage_reports" and of a registry version's manifest "stage_metrics"
//   PipelineReport  <output>/report.json
//   RunProgress     <output>/state/progress.json: what a restarted run needs beyond weights and
//                   optimizer moments (also what rank 0 hands the other data-parallel ranks)
//
// FromJson accepts exactly what ToJson writes (unknown keys aside, so a newer writer's additions do
// not break an older reader) and never throws: a missing field, a field of the wrong type or a value
// out of range is DATA_LOSS naming the source and the field. Numbers that are NaN (a mode that
// scored nothing) are written as JSON null and read back as NaN. A ModeReport of a task with its own
// metric holds "task_metric": NAME and the score under NAME; one with a "structure" score and no
// "task_metric" was written before task kinds existed and reads as metric "structure".
//
// No libtorch here: the CLI, the experiment runner and the registry publisher read these records.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/eval/inference_eval.h"
#include "core/pipeline/promotion.h"
#include "core/schedule/stage_schedule.h"

namespace promptintern {

struct StageReport {
  Stage stage;
  int64_t template_tokens = 0;  // kept template tokens
  int64_t train_tokens = 0;     // real (unpadded) tokens of the stage's training sequences
  double train_loss = 0.0;      // mean over the stage's last steps
  ModeReport validation;        // with the stage's own rendering
};

struct PipelineReport {
  std::string output_dir;  // where report.json lies; not written into it
  std::string job;         // the job's name
  std::string final_model_dir;
  int64_t template_tokens = 0;  // whole template
  std::vector<StageReport> stages;
  std::vector<ModeReport> modes;
  double train_seconds = 0.0;
  // The fine-tuning budget as spent: optimizer steps, and real tokens of every training sequence
  // (prompt and completion, after truncation to training.max_length; pretraining excluded).
  int64_t train_steps = 0;
  int64_t train_tokens = 0;
  int64_t pretrain_tokens = 0;  // tokens of the optional from-scratch pretraining phase
  // Set when the job has a promote: section (the gate's scores and decision).
  std::optional<PromotionCheck> promotion;
};

struct RunProgress {
  int64_t global_step = 0;
  // Real (unpadded) tokens of every sequence trained on so far: fine-tuning stages and pretraining.
  int64_t train_tokens = 0;
  int64_t pretrain_tokens = 0;
  std::map<int, std::string> stage_templates;  // each started stage's compressed template
  std::vector<StageReport> stage_reports;      // each finished stage
};

nlohmann::json ModeReportToJson(const ModeReport& report);
absl::StatusOr<ModeReport> ModeReportFromJson(const nlohmann::json& json, absl::string_view source);

nlohmann::json StageReportToJson(const StageReport& report);
absl::StatusOr<StageReport> StageReportFromJson(const nlohmann::json& json, absl::string_view source);

// Each mode entry also names its per-example scores file (ExamplesFile), for readers of the JSON.
nlohmann::json PipelineReportToJson(const PipelineReport& report);
// `output_dir` is left empty: the caller knows where the file came from.
absl::StatusOr<PipelineReport> PipelineReportFromJson(const nlohmann::json& json, absl::string_view source);

// The progress.json text. A compressed template is decoded tokens: should one hold a broken UTF-8
// sequence, the file is still written (with U+FFFD) rather than the dump throwing.
std::string RunProgressToText(const RunProgress& progress);
absl::StatusOr<RunProgress> RunProgressFromText(absl::string_view text, absl::string_view source);

// The report.json a finished run left in `output_dir`; DATA_LOSS for a file that is not one.
absl::StatusOr<PipelineReport> ReadPipelineReport(const std::string& output_dir);

// The comparison table the CLI prints: accuracy, input tokens, latency and cost per mode.
std::string FormatModeTable(const PipelineReport& report);

}  // namespace promptintern
