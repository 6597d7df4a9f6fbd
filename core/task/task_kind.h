// Task kinds: what a job's `task.kind` names. A kind brings its own data loader, its built-in
// template and, optionally, its own metric; core/ names no task. Kinds live under tasks/ (one
// folder each) and register themselves at static initialization, so adding a task is adding a
// folder there (docs/ARCHITECTURE.md, "Adding a task").
//
// Contract:
//   - Names are unique: registering a kind or template twice with one name aborts at start-up
//     (a build error in all but name). Lookups after main() starts are read-only and thread-safe.
//   - A kind reads one source: "synthetic" kinds generate their examples from (seed, sizes) and
//     must give `generate`; "jsonl" kinds read files, with `load` when they need more than the
//     generic reader (one file split by an id, say). At most one kind per source is its default.
//   - A metric scores one prediction against one reference (both whitespace-normalized) in
//     [0, 1]; evaluation reports its mean beside exact match and BLEU, per-example scores keep it,
//     and `promote.metric` may name it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/example.h"
#include "core/data/jsonl.h"
#include "core/task/task_spec.h"

namespace promptintern {

// A task's examples before the core keeps validation queries out of train and pool.
struct TaskSplits {
  std::vector<Example> train;
  std::vector<Example> validation;
  std::vector<Example> pool;  // empty: the pool is the train set
};

struct TaskMetric {
  std::string name;  // a report column, a key of the run records and a promote.metric choice
  std::function<double(std::string_view prediction, std::string_view reference)> score;
};

struct BuiltinTemplate {
  std::string name;  // as task.template.builtin names it
  std::string instruction;
  std::string document;
};

struct TaskKind {
  std::string name;
  std::string source;               // "synthetic" or "jsonl"
  bool default_for_source = false;  // the kind of a job that names only its source
  JsonlFields fields;               // jsonl: the query and answer fields unless the job names others
  // source: synthetic. Disjoint, deterministic parts of (seed, train, validation, pool).
  std::function<TaskSplits(uint64_t seed, int64_t train, int64_t validation, int64_t pool)> generate;
  // source: jsonl. Empty: train, validation and pool read with the generic JSONL reader.
  std::function<absl::StatusOr<TaskSplits>(const TaskSpec& spec, const JsonlFields& fields)> load;
  bool needs_validation_file = true;  // false when `load` can split the train file itself
  std::string template_name;          // a registered BuiltinTemplate; empty: no template
  TaskMetric metric;                  // empty name: no metric of its own
};

// Both return true, for `static const bool registered = Register...(...)`.
bool RegisterTaskKind(TaskKind kind);
bool RegisterBuiltinTemplate(BuiltinTemplate builtin);

const TaskKind* FindTaskKind(std::string_view name);
const BuiltinTemplate* FindBuiltinTemplate(std::string_view name);
std::vector<std::string> TaskKindNames();
std::vector<std::string> BuiltinTemplateNames();

// The kind of a job that names only `source`; nullptr when no kind is its default.
const TaskKind* DefaultTaskKind(std::string_view source);
// spec.kind, or the default kind of spec.source; InvalidArgument naming task.kind or task.source
// when there is none, or when the kind reads another source than spec.source.
absl::StatusOr<const TaskKind*> ResolveTaskKind(const TaskSpec& spec);

// The kind's metric, or nullptr when it has none. Lives as long as the kind (the whole process).
const TaskMetric* MetricOf(const TaskKind& kind);

}  // namespace promptintern
