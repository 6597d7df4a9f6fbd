// task.json, saved beside every internalized checkpoint: what is needed to render the full (or a
// compressed) prompt again for any query, so inference can report the tokens the model saved.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/retrieve/bm25.h"
#include "core/task/task.h"

namespace promptintern {

struct ServedTask {
  Task task;  // name, instruction, document, format and example pool (no train/validation sets)
  int full_prompt_examples = 5;
  Bm25Params retrieval;
  std::string compression_method = "self_information";
  double compressed_keep_ratio = 0.3;
  // The compressed template the final evaluation used, served as the compressed mode. Empty in
  // task files written before it was stored: the server then compresses again at load.
  std::string compressed_template;
};

// The task of a model that internalized nothing (a checkpoint imported without a task): no
// template, no example pool, no query or answer prefixes, so the prompt is the query itself in
// every mode and there is no full prompt to save tokens against (baseline = input).
ServedTask QueryAsPromptTask(const std::string& name);

std::string ServedTaskToJson(const ServedTask& served);
absl::StatusOr<ServedTask> ServedTaskFromJson(const std::string& json_text, const std::string& source);

}  // namespace promptintern
