// The `task:` section of a job file, as parsed and validated by core/pipeline/job_spec: which kind
// of task (core/task/task_kind.h), where its examples come from, its template and its prompt
// format. An empty name, field or kind means "what the task kind says": the job spec parser
// fills them in, so a parsed spec always holds concrete values.
#pragma once

#include <cstdint>
#include <string>

#include "core/task/task.h"

namespace promptintern {

// task.template.builtin when the job names none: the kind's own template, or none if it has none.
inline constexpr char kKindTemplate[] = "default";
inline constexpr char kNoTemplate[] = "none";

struct TaskSpec {
  std::string kind;                  // a registered task kind; empty: the default of `source`
  std::string name;                  // a label for reports and the registry; empty: the kind's name
  std::string source = "synthetic";  // "synthetic" (generated) or "jsonl" (files)
  // source: synthetic
  uint64_t synthetic_seed = 1;
  int64_t synthetic_train_size = 2000;
  int64_t synthetic_validation_size = 200;
  int64_t synthetic_pool_size = 500;
  // source: jsonl
  std::string train_path;
  std::string validation_path;       // empty only for kinds that split one file themselves
  std::string pool_path;             // empty: the example pool is the train set
  std::string query_field;           // empty: the kind's field name
  std::string answer_field;
  int64_t train_limit = 0;           // 0 = all
  int64_t validation_limit = 0;
  // template: a builtin template's name (registered by a task kind), kKindTemplate, kNoTemplate,
  // or empty for the text given inline / from files in instruction and document.
  std::string template_builtin = kKindTemplate;
  std::string instruction;
  std::string document;
  PromptFormat format;
};

}  // namespace promptintern
