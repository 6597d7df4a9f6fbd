#include "core/jobs/job_record.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/json_fields.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

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
      {Kind::kCancelled, "cancelled"},   {Kind::kPromotion, "promotion"}};
  return *names;
}

template <typename Enum>
absl::string_view NameOf(const std::vector<std::pair<Enum, absl::string_view>>& names, Enum value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return "unknown";
}

}  // namespace

absl::string_view JobStateName(JobState state) { return NameOf(StateNames(), state); }

bool IsFinal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled;
}

absl::string_view JobEventKindName(JobEvent::Kind kind) { return NameOf(KindNames(), kind); }

std::string SerializeJobRecord(const JobRecord& record) {
  const json value = {{"id", record.id},
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
                      {"loss", JsonNumber(record.loss)},
                      {"error", record.error},
                      {"model_name", record.model_name},
                      {"model_version", record.model_version},
                      {"unfinished_runs", record.unfinished_runs}};
  return DumpJson(value, 1) + "\n";
}

absl::StatusOr<JobRecord> ParseJobRecord(absl::string_view text) {
  ASSIGN_OR_RETURN(const json value, ParseJsonObject(text));
  const JsonFields fields(value);
  JobRecord record;
  RETURN_IF_ERROR(fields.Read("id", &record.id));
  if (record.id.empty()) return absl::DataLossError("field \"id\" is missing or empty");
  RETURN_IF_ERROR(fields.ReadName("state", StateNames(), &record.state));
  RETURN_IF_ERROR(fields.Read("name", &record.name));
  RETURN_IF_ERROR(fields.Read("yaml", &record.yaml));
  RETURN_IF_ERROR(fields.Read("base_dir", &record.base_dir));
  RETURN_IF_ERROR(fields.Read("created_unix_ms", &record.created_unix_ms));
  RETURN_IF_ERROR(fields.Read("started_unix_ms", &record.started_unix_ms));
  RETURN_IF_ERROR(fields.Read("finished_unix_ms", &record.finished_unix_ms));
  RETURN_IF_ERROR(fields.Read("stage", &record.stage));
  RETURN_IF_ERROR(fields.Read("num_stages", &record.num_stages));
  RETURN_IF_ERROR(fields.Read("step", &record.step));
  RETURN_IF_ERROR(fields.Read("total_steps", &record.total_steps));
  RETURN_IF_ERROR(fields.Read("loss", &record.loss));
  RETURN_IF_ERROR(fields.Read("error", &record.error));
  RETURN_IF_ERROR(fields.Read("model_name", &record.model_name));
  RETURN_IF_ERROR(fields.Read("model_version", &record.model_version));
  RETURN_IF_ERROR(fields.Read("unfinished_runs", &record.unfinished_runs));
  if (record.unfinished_runs < 0) return absl::DataLossError("field \"unfinished_runs\" is negative");
  return record;
}

std::string SerializeJobEvent(const JobEvent& event) {
  const PipelineEvent& p = event.pipeline;
  json metrics = json::object();
  for (const auto& [name, value] : p.metrics) metrics[name] = JsonNumber(value);
  const json value = {{"sequence", event.sequence},
                      {"kind", std::string(JobEventKindName(event.kind))},
                      {"unix_ms", event.unix_ms},
                      {"stage", p.stage},
                      {"num_stages", p.num_stages},
                      {"step", p.step},
                      {"total_steps", p.total_steps},
                      {"loss", JsonNumber(p.loss)},
                      {"learning_rate", JsonNumber(p.learning_rate)},
                      {"tokens_per_second", JsonNumber(p.tokens_per_second)},
                      {"eta_seconds", JsonNumber(p.eta_seconds)},
                      {"keep_ratio", JsonNumber(p.keep_ratio)},
                      {"num_examples", p.num_examples},
                      {"metrics", metrics},
                      {"message", event.message},
                      {"model_name", event.model_name},
                      {"model_version", event.model_version}};
  return DumpJson(value, -1) + "\n";
}

absl::StatusOr<JobEvent> ParseJobEvent(absl::string_view line) {
  ASSIGN_OR_RETURN(const json value, ParseJsonObject(line));
  const JsonFields fields(value);
  JobEvent event;
  PipelineEvent& p = event.pipeline;
  RETURN_IF_ERROR(fields.Read("sequence", &event.sequence));
  RETURN_IF_ERROR(fields.ReadName("kind", KindNames(), &event.kind));
  RETURN_IF_ERROR(fields.Read("unix_ms", &event.unix_ms));
  RETURN_IF_ERROR(fields.Read("stage", &p.stage));
  RETURN_IF_ERROR(fields.Read("num_stages", &p.num_stages));
  RETURN_IF_ERROR(fields.Read("step", &p.step));
  RETURN_IF_ERROR(fields.Read("total_steps", &p.total_steps));
  RETURN_IF_ERROR(fields.Read("loss", &p.loss));
  RETURN_IF_ERROR(fields.Read("learning_rate", &p.learning_rate));
  RETURN_IF_ERROR(fields.Read("tokens_per_second", &p.tokens_per_second));
  RETURN_IF_ERROR(fields.Read("eta_seconds", &p.eta_seconds));
  RETURN_IF_ERROR(fields.Read("keep_ratio", &p.keep_ratio));
  RETURN_IF_ERROR(fields.Read("num_examples", &p.num_examples));
  RETURN_IF_ERROR(fields.Read("metrics", &p.metrics));
  RETURN_IF_ERROR(fields.Read("message", &event.message));
  RETURN_IF_ERROR(fields.Read("model_name", &event.model_name));
  RETURN_IF_ERROR(fields.Read("model_version", &event.model_version));
  return event;
}

JobEventLog ParseJobEventLog(absl::string_view text) {
  JobEventLog log;
  size_t begin = 0;
  int64_t line_number = 0;
  while (begin < text.size()) {
    ++line_number;
    const size_t newline = text.find('\n', begin);
    // The writer ends every line with '\n' in the same write: a last line without one is an
    // append the crash cut short, whatever it holds.
    if (newline == absl::string_view::npos) break;
    absl::StatusOr<JobEvent> event = ParseJobEvent(text.substr(begin, newline - begin));
    if (!event.ok()) {
      log.damage = absl::DataLossError(absl::StrCat("line ", line_number, ": ", event.status().message()));
      break;
    }
    const int64_t expected = static_cast<int64_t>(log.events.size());
    if (event->sequence != expected) {
      log.damage = absl::DataLossError(
          absl::StrCat("line ", line_number, ": sequence ", event->sequence, ", expected ", expected));
      break;
    }
    log.events.push_back(*std::move(event));
    begin = newline + 1;
    log.valid_bytes = begin;
  }
  return log;
}

}  // namespace promptintern
