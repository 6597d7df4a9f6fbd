#include "core/pipeline/run_report.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/json_fields.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr char kLegacyTaskMetric[] = "structure";

// Every read of one record, the first failure named with the record's source.
class RecordReader {
 public:
  RecordReader(const json& object, absl::string_view source) : fields_(object), source_(source) {}

  template <typename T>
  RecordReader& operator()(const char* key, T* out) {
    if (status_.ok()) Note(fields_.Read(key, out));
    return *this;
  }
  template <typename T>
  RecordReader& Required(const char* key, T* out) {
    if (status_.ok()) Note(fields_.Require(key, out));
    return *this;
  }
  // The field's array (empty when missing), or null after a failure.
  const json* Array(const char* key) {
    static const json* const kEmpty = new json(json::array());
    if (!status_.ok()) return nullptr;
    absl::StatusOr<const json*> array = fields_.Array(key);
    if (!array.ok()) {
      Note(array.status());
      return nullptr;
    }
    return *array != nullptr ? *array : kEmpty;
  }
  const json* Object(const char* key) {
    if (!status_.ok()) return nullptr;
    absl::StatusOr<const json*> object = fields_.Object(key);
    if (!object.ok()) {
      Note(object.status());
      return nullptr;
    }
    return *object;
  }
  const absl::Status& status() const { return status_; }

 private:
  void Note(const absl::Status& status) {
    if (status_.ok() && !status.ok()) status_ = absl::DataLossError(absl::StrCat(source_, ": ", status.message()));
  }
  JsonFields fields_;
  std::string source_;
  absl::Status status_;
};

absl::Status ExpectObject(const json& value, absl::string_view source) {
  if (value.is_object()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(source, ": expected an object, got ", value.type_name()));
}

absl::Status NotNegative(int64_t value, const char* key, absl::string_view source) {
  if (value >= 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(source, ": field \"", key, "\" is negative (", value, ")"));
}

}  // namespace

json ModeReportToJson(const ModeReport& report) {
  json value = {{"mode", report.mode},
                {"requests", report.requests},
                {"exact_match", JsonNumber(report.exact_match)},
                {"bleu", JsonNumber(report.bleu)},
                {"mean_input_tokens", JsonNumber(report.mean_input_tokens)},
                {"mean_output_tokens", JsonNumber(report.mean_output_tokens)},
                {"latency_p50_s", JsonNumber(report.latency.p50)},
                {"latency_p90_s", JsonNumber(report.latency.p90)},
                {"cost_per_1k_requests_usd", JsonNumber(report.cost_per_1k_requests_usd)},
                {"predictions", report.predictions}};
  // The task's own score under its metric's name (run_report.h).
  if (!report.task_metric.empty()) {
    value["task_metric"] = report.task_metric;
    value[report.task_metric] = JsonNumber(report.task_score);
  }
  return value;
}

absl::StatusOr<ModeReport> ModeReportFromJson(const json& value, absl::string_view source) {
  RETURN_IF_ERROR(ExpectObject(value, source));
  ModeReport report;
  RecordReader read(value, source);
  read("mode", &report.mode)("requests", &report.requests)("exact_match", &report.exact_match)(
      "bleu", &report.bleu)("mean_input_tokens", &report.mean_input_tokens)(
      "mean_output_tokens", &report.mean_output_tokens)("latency_p50_s", &report.latency.p50)(
      "latency_p90_s", &report.latency.p90)("cost_per_1k_requests_usd", &report.cost_per_1k_requests_usd)(
      "predictions", &report.predictions)("task_metric", &report.task_metric);
  // Written before task kinds named their metric: the bash tasks' "structure" was the only one.
  if (report.task_metric.empty() && value.contains(kLegacyTaskMetric)) report.task_metric = kLegacyTaskMetric;
  if (!report.task_metric.empty()) read.Required(report.task_metric.c_str(), &report.task_score);
  RETURN_IF_ERROR(read.status());
  RETURN_IF_ERROR(NotNegative(report.requests, "requests", source));
  return report;
}

json StageReportToJson(const StageReport& report) {
  return {{"index", report.stage.index},
          {"keep_ratio", JsonNumber(report.stage.keep_ratio)},
          {"num_examples", report.stage.num_examples},
          {"steps", report.stage.steps},
          {"train_tokens", report.train_tokens},
          {"template_tokens", report.template_tokens},
          {"train_loss", JsonNumber(report.train_loss)},
          {"validation", ModeReportToJson(report.validation)}};
}

absl::StatusOr<StageReport> StageReportFromJson(const json& value, absl::string_view source) {
  RETURN_IF_ERROR(ExpectObject(value, source));
  StageReport report;
  RecordReader read(value, source);
  read("index", &report.stage.index)("keep_ratio", &report.stage.keep_ratio)(
      "num_examples", &report.stage.num_examples)("steps", &report.stage.steps)("train_tokens", &report.train_tokens)(
      "template_tokens", &report.template_tokens)("train_loss", &report.train_loss);
  const json* validation = read.Object("validation");
  RETURN_IF_ERROR(read.status());
  RETURN_IF_ERROR(NotNegative(report.stage.index, "index", source));
  RETURN_IF_ERROR(NotNegative(report.stage.num_examples, "num_examples", source));
  RETURN_IF_ERROR(NotNegative(report.stage.steps, "steps", source));
  if (validation != nullptr) {
    ASSIGN_OR_RETURN(report.validation, ModeReportFromJson(*validation, absl::StrCat(source, " validation")));
  }
  return report;
}

json PipelineReportToJson(const PipelineReport& report) {
  json stages = json::array();
  for (const StageReport& stage : report.stages) stages.push_back(StageReportToJson(stage));
  json modes = json::array();
  for (const ModeReport& mode : report.modes) {
    modes.push_back(ModeReportToJson(mode));
    modes.back()["examples_file"] = ExamplesFile(mode.mode);
  }
  json root = {{"job", report.job},
               {"final_model_dir", report.final_model_dir},
               {"template_tokens", report.template_tokens},
               {"train_seconds", JsonNumber(report.train_seconds)},
               {"train_steps", report.train_steps},
               {"train_tokens", report.train_tokens},
               {"pretrain_tokens", report.pretrain_tokens},
               {"stages", stages},
               {"modes", modes}};
  if (report.promotion) root["promotion"] = PromotionCheckToJson(*report.promotion);
  return root;
}

absl::StatusOr<PipelineReport> PipelineReportFromJson(const json& value, absl::string_view source) {
  RETURN_IF_ERROR(ExpectObject(value, source));
  PipelineReport report;
  RecordReader read(value, source);
  read("job", &report.job)("final_model_dir", &report.final_model_dir)("template_tokens", &report.template_tokens)(
      "train_seconds", &report.train_seconds)("train_steps", &report.train_steps)("train_tokens", &report.train_tokens)(
      "pretrain_tokens", &report.pretrain_tokens);
  const json* stages = read.Array("stages");
  const json* modes = read.Array("modes");
  const json* promotion = read.Object("promotion");
  RETURN_IF_ERROR(read.status());
  for (size_t i = 0; i < stages->size(); ++i) {
    ASSIGN_OR_RETURN(StageReport stage, StageReportFromJson((*stages)[i], absl::StrCat(source, " stages[", i, "]")));
    report.stages.push_back(std::move(stage));
  }
  for (size_t i = 0; i < modes->size(); ++i) {
    ASSIGN_OR_RETURN(ModeReport mode, ModeReportFromJson((*modes)[i], absl::StrCat(source, " modes[", i, "]")));
    report.modes.push_back(std::move(mode));
  }
  if (promotion != nullptr) {
    absl::StatusOr<PromotionCheck> check = PromotionCheckFromJson(*promotion);
    if (!check.ok()) return absl::DataLossError(absl::StrCat(source, ": ", check.status().message()));
    report.promotion = *std::move(check);
  }
  return report;
}

std::string RunProgressToText(const RunProgress& progress) {
  json templates = json::object();
  for (const auto& [stage, text] : progress.stage_templates) templates[std::to_string(stage)] = text;
  json reports = json::array();
  for (const StageReport& report : progress.stage_reports) reports.push_back(StageReportToJson(report));
  const json root = {{"global_step", progress.global_step},
                     {"train_tokens", progress.train_tokens},
                     {"pretrain_tokens", progress.pretrain_tokens},
                     {"stage_templates", templates},
                     {"stage_reports", reports}};
  return DumpJson(root, 1) + "\n";
}

absl::StatusOr<RunProgress> RunProgressFromText(absl::string_view text, absl::string_view source) {
  absl::StatusOr<json> root = ParseJsonObject(text);
  if (!root.ok()) return absl::DataLossError(absl::StrCat(source, ": not a progress file: ", root.status().message()));
  RunProgress progress;
  RecordReader read(*root, source);
  read.Required("global_step", &progress.global_step)("train_tokens", &progress.train_tokens)(
      "pretrain_tokens", &progress.pretrain_tokens);
  const json* templates = read.Object("stage_templates");
  const json* reports = read.Array("stage_reports");
  RETURN_IF_ERROR(read.status());
  RETURN_IF_ERROR(NotNegative(progress.global_step, "global_step", source));
  RETURN_IF_ERROR(NotNegative(progress.train_tokens, "train_tokens", source));
  RETURN_IF_ERROR(NotNegative(progress.pretrain_tokens, "pretrain_tokens", source));
  if (templates != nullptr) {
    for (auto it = templates->begin(); it != templates->end(); ++it) {
      int stage = 0;
      if (!absl::SimpleAtoi(it.key(), &stage) || stage < 0 || !it.value().is_string()) {
        return absl::DataLossError(absl::StrCat(source, ": stage_templates entry '", it.key(), "' is not a stage's text"));
      }
      progress.stage_templates[stage] = it.value().get<std::string>();
    }
  }
  for (size_t i = 0; i < reports->size(); ++i) {
    ASSIGN_OR_RETURN(StageReport report,
                     StageReportFromJson((*reports)[i], absl::StrCat(source, " stage_reports[", i, "]")));
    progress.stage_reports.push_back(std::move(report));
  }
  return progress;
}

absl::StatusOr<PipelineReport> ReadPipelineReport(const std::string& output_dir) {
  const std::string path = JoinPath(output_dir, kReportFile);
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<json> root = ParseJsonObject(text);
  if (!root.ok()) return absl::DataLossError(absl::StrCat(path, ": not a run report: ", root.status().message()));
  if (!root->contains("modes")) return absl::DataLossError(absl::StrCat(path, ": not a run report: it has no modes"));
  ASSIGN_OR_RETURN(PipelineReport report, PipelineReportFromJson(*root, path));
  report.output_dir = output_dir;
  return report;
}

std::string FormatModeTable(const PipelineReport& report) {
  // The task's own metric gets a column when it has one (every mode of a run has the same task).
  const std::string task_metric = report.modes.empty() ? "" : report.modes.front().task_metric;
  std::string table = absl::StrFormat("%-12s %8s %7s", "mode", "exact", "BLEU");
  if (!task_metric.empty()) absl::StrAppendFormat(&table, " %9s", task_metric);
  absl::StrAppendFormat(&table, " %13s %11s %11s %14s\n", "input tok/req", "p50 (ms)", "p90 (ms)", "$ per 1k req");
  const ModeReport* baseline = nullptr;
  for (const ModeReport& mode : report.modes) {
    if (mode.mode == "full_prompt") baseline = &mode;
  }
  for (const ModeReport& mode : report.modes) {
    absl::StrAppendFormat(&table, "%-12s %7.1f%% %7.2f", mode.mode, 100 * mode.exact_match, mode.bleu);
    if (!task_metric.empty()) absl::StrAppendFormat(&table, " %8.1f%%", 100 * mode.task_score);
    absl::StrAppendFormat(&table, " %13.1f %11.1f %11.1f %14.5f\n", mode.mean_input_tokens, 1000 * mode.latency.p50,
                          1000 * mode.latency.p90, mode.cost_per_1k_requests_usd);
  }
  if (baseline != nullptr) {
    for (const ModeReport& mode : report.modes) {
      if (&mode == baseline) continue;
      absl::StrAppendFormat(&table, "%s vs full_prompt: %.1f%% fewer input tokens, %.2fx faster (p50), %.1f%% lower cost\n",
                            mode.mode, 100 * (1 - mode.mean_input_tokens / baseline->mean_input_tokens),
                            baseline->latency.p50 / std::max(mode.latency.p50, 1e-12),
                            100 * (1 - mode.cost_per_1k_requests_usd / baseline->cost_per_1k_requests_usd));
    }
  }
  return table;
}

}  // namespace promptintern
