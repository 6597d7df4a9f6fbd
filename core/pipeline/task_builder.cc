#include "core/pipeline/task_builder.h"

#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "core/data/jsonl.h"
#include "core/retrieve/bm25.h"
#include "core/task/task_kind.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

std::vector<Example> WithoutQueries(std::vector<Example> examples, const std::unordered_set<std::string>& banned) {
  std::vector<Example> kept;
  for (Example& example : examples) {
    if (banned.count(NormalizeQueryWhitespace(example.query)) == 0) kept.push_back(std::move(example));
  }
  return kept;
}

}  // namespace

absl::StatusOr<Task> BuildTask(const TaskSpec& spec) {
  ASSIGN_OR_RETURN(const TaskKind* kind, ResolveTaskKind(spec));
  Task task;
  task.kind = kind->name;
  task.name = spec.name.empty() ? kind->name : spec.name;
  task.format = spec.format;
  const std::string builtin = spec.template_builtin == kKindTemplate ? kind->template_name : spec.template_builtin;
  if (spec.template_builtin.empty()) {
    task.instruction = spec.instruction;
    task.document = spec.document;
  } else if (!builtin.empty() && builtin != kNoTemplate) {
    const BuiltinTemplate* found = FindBuiltinTemplate(builtin);
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("task.template.builtin: unknown template '", builtin, "'"));
    }
    task.instruction = found->instruction;
    task.document = found->document;
  }

  TaskSplits splits;
  if (spec.source == "synthetic") {
    splits = kind->generate(spec.synthetic_seed, spec.synthetic_train_size, spec.synthetic_validation_size,
                            spec.synthetic_pool_size);
  } else {
    const JsonlFields fields{spec.query_field.empty() ? kind->fields.query_field : spec.query_field,
                             spec.answer_field.empty() ? kind->fields.answer_field : spec.answer_field};
    if (kind->load) {
      ASSIGN_OR_RETURN(splits, kind->load(spec, fields));
    } else {
      ASSIGN_OR_RETURN(splits.train, LoadJsonlExamples(spec.train_path, fields, spec.train_limit));
      ASSIGN_OR_RETURN(splits.validation, LoadJsonlExamples(spec.validation_path, fields, spec.validation_limit));
      if (!spec.pool_path.empty()) {
        ASSIGN_OR_RETURN(splits.pool, LoadJsonlExamples(spec.pool_path, fields));
      }
    }
    if (splits.pool.empty()) splits.pool = splits.train;
    std::unordered_set<std::string> evaluated;
    for (const Example& example : splits.validation) evaluated.insert(NormalizeQueryWhitespace(example.query));
    splits.pool = WithoutQueries(std::move(splits.pool), evaluated);
    splits.train = WithoutQueries(std::move(splits.train), evaluated);
  }
  task.train = std::move(splits.train);
  task.validation = std::move(splits.validation);
  task.example_pool = std::move(splits.pool);
  if (task.train.empty()) return absl::InvalidArgumentError("task: the train set is empty");
  if (task.validation.empty()) return absl::InvalidArgumentError("task: the validation set is empty");
  return task;
}

std::vector<std::string> TokenizerCorpus(const Task& task, const std::vector<std::string>& pretraining) {
  std::vector<std::string> corpus;
  if (!task.instruction.empty()) corpus.push_back(task.instruction);
  if (!task.document.empty()) corpus.push_back(task.document);
  for (const auto* set : {&task.train, &task.example_pool}) {
    for (const Example& example : *set) {
      corpus.push_back(absl::StrCat(task.format.query_prefix, example.query, task.format.answer_prefix,
                                    RenderCompletion(example.answer)));
    }
  }
  corpus.insert(corpus.end(), pretraining.begin(), pretraining.end());
  return corpus;
}

absl::StatusOr<std::vector<std::string>> ReadCorpusLines(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin) lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  if (lines.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": the pretraining corpus is empty"));
  return lines;
}

}  // namespace promptintern
