// Turns a job's task section into a Task through its task kind (core/task/task_kind.h): the kind's
// generator or JSONL files, and the template text (a built-in template, inline text, or none).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pipeline/job_spec.h"
#include "core/task/task.h"

namespace promptintern {

// The validation set never shares a query with the example pool or the train set: retrieval must
// not hand the model the answer it is evaluated on.
absl::StatusOr<Task> BuildTask(const TaskSpec& spec);

// Corpus for a from-scratch tokenizer: everything the model will read or write (the template, every
// training and pool pair as the model sees it, and the pretraining lines).
std::vector<std::string> TokenizerCorpus(const Task& task, const std::vector<std::string>& pretraining);

// The non-empty lines of a pretraining corpus file; InvalidArgument when there are none.
absl::StatusOr<std::vector<std::string>> ReadCorpusLines(const std::string& path);

}  // namespace promptintern
