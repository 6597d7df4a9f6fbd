// Turns a job's task section into a Task: the synthetic NL-to-bash generator or JSONL files, and
// the template text (built-in bash instruction and command reference, inline text, or none).
#pragma once

#include "absl/status/statusor.h"
#include "core/pipeline/job_spec.h"
#include "core/task/task.h"

namespace promptintern {

// The validation set never shares a query with the example pool or the train set: retrieval must
// not hand the model the answer it is evaluated on.
absl::StatusOr<Task> BuildTask(const TaskSpec& spec);

}  // namespace promptintern
