// The trainer's two records of a job, and the one reader and one writer of each format:
//
//   <data_dir>/jobs/<id>/job.json       the job's current state, one JSON object, replaced
//                                       atomically on every change
//   <data_dir>/jobs/<id>/events.jsonl   its history, one JSON object per line in sequence order,
//                                       appended; WatchJob replays it
//
// The readers never throw and never guess: anything the writers would not have written (malformed
// JSON, a field of the wrong type, a number out of range, an unknown state or kind, a sequence out
// of order) is DATA_LOSS naming the file's field or line. A field a record lacks takes its default
// (records written before the field existed); unknown fields are ignored (records of a newer
// trainer). JSON has no NaN or infinity: the writers write null for a non-finite number and the
// readers read null back as NaN. Strings that are not valid UTF-8 (an error message quoting a
// user's bytes) are written with U+FFFD in their place rather than failing the write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
  // Runs of the job that started and have not ended cleanly (finished, or checkpointed by a
  // shutdown): at a trainer's start, the number of runs in a row that died with the trainer.
  int unfinished_runs = 0;
};

struct JobEvent {
  // kPromotion follows kPublished for a job with a promotion gate: metrics["promoted"] is 1 when
  // the alias moved onto the version, 0 when it was refused; the message says why.
  enum class Kind { kQueued, kStarted, kStageStarted, kProgress, kEvaluation, kCheckpoint, kPublished, kSucceeded,
                    kFailed, kCancelled, kPromotion };
  int64_t sequence = 0;
  Kind kind = Kind::kQueued;
  int64_t unix_ms = 0;
  PipelineEvent pipeline;  // stage, step, loss, metrics... where the kind has them
  std::string message;
  std::string model_name;
  int64_t model_version = 0;
};
absl::string_view JobEventKindName(JobEvent::Kind kind);

// job.json text (pretty-printed, ending in a newline).
std::string SerializeJobRecord(const JobRecord& record);
absl::StatusOr<JobRecord> ParseJobRecord(absl::string_view text);

// One events.jsonl line, ending in '\n'.
std::string SerializeJobEvent(const JobEvent& event);
// One line (without its '\n').
absl::StatusOr<JobEvent> ParseJobEvent(absl::string_view line);

struct JobEventLog {
  // Every event up to the first damaged line (all of them when `damage` is OK).
  std::vector<JobEvent> events;
  // Bytes of the file that hold whole, valid lines: a last line without its '\n' is an append cut
  // short by a crash, not damage, and is left out (the writer truncates the file to this length
  // before appending again).
  size_t valid_bytes = 0;
  // DATA_LOSS "line N: ..." for the first complete line that is damaged, or whose event's
  // sequence is not N - 1.
  absl::Status damage;
};
// The whole events.jsonl text.
JobEventLog ParseJobEventLog(absl::string_view text);

}  // namespace promptintern
