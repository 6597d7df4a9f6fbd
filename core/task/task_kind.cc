#include "core/task/task_kind.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace promptintern {
namespace {

// Filled by static initializers before main(), read-only afterwards.
struct Registry {
  std::map<std::string, TaskKind, std::less<>> kinds;
  std::map<std::string, BuiltinTemplate, std::less<>> templates;
};

Registry& TheRegistry() {
  static auto* registry = new Registry;
  return *registry;
}

[[noreturn]] void DieRegistering(const std::string& what) {
  std::fprintf(stderr, "task registry: %s\n", what.c_str());
  std::abort();
}

}  // namespace

bool RegisterTaskKind(TaskKind kind) {
  Registry& registry = TheRegistry();
  if (kind.name.empty()) DieRegistering("a task kind without a name");
  if (kind.source != "synthetic" && kind.source != "jsonl") {
    DieRegistering(absl::StrCat("task kind ", kind.name, ": unknown source '", kind.source, "'"));
  }
  if (kind.source == "synthetic" && !kind.generate) {
    DieRegistering(absl::StrCat("task kind ", kind.name, ": a synthetic kind needs generate"));
  }
  if (kind.metric.name.empty() != !kind.metric.score) {
    DieRegistering(absl::StrCat("task kind ", kind.name, ": a metric needs both a name and a score"));
  }
  // The metric's name is a key beside these in the run records (core/eval/example_scores.h).
  for (const char* reserved : {"index", "reference", "prediction", "exact", "exact_match", "bleu", "task_metric",
                               "mode", "requests", "latency"}) {
    if (kind.metric.name == reserved) {
      DieRegistering(absl::StrCat("task kind ", kind.name, ": the metric name '", reserved, "' is reserved"));
    }
  }
  if (kind.default_for_source) {
    for (const auto& [name, other] : registry.kinds) {
      if (other.default_for_source && other.source == kind.source) {
        DieRegistering(absl::StrCat("task kinds ", name, " and ", kind.name, " are both the default of source ",
                                    kind.source));
      }
    }
  }
  const std::string name = kind.name;
  if (!registry.kinds.emplace(name, std::move(kind)).second) DieRegistering(absl::StrCat("task kind ", name, " twice"));
  return true;
}

bool RegisterBuiltinTemplate(BuiltinTemplate builtin) {
  if (builtin.name.empty() || builtin.name == kKindTemplate || builtin.name == kNoTemplate) {
    DieRegistering(absl::StrCat("a builtin template may not be called '", builtin.name, "'"));
  }
  const std::string name = builtin.name;
  if (!TheRegistry().templates.emplace(name, std::move(builtin)).second) {
    DieRegistering(absl::StrCat("builtin template ", name, " twice"));
  }
  return true;
}

const TaskKind* FindTaskKind(std::string_view name) {
  const auto& kinds = TheRegistry().kinds;
  const auto found = kinds.find(name);
  return found == kinds.end() ? nullptr : &found->second;
}

const BuiltinTemplate* FindBuiltinTemplate(std::string_view name) {
  const auto& templates = TheRegistry().templates;
  const auto found = templates.find(name);
  return found == templates.end() ? nullptr : &found->second;
}

std::vector<std::string> TaskKindNames() {
  std::vector<std::string> names;
  for (const auto& [name, kind] : TheRegistry().kinds) names.push_back(name);
  return names;
}

std::vector<std::string> BuiltinTemplateNames() {
  std::vector<std::string> names;
  for (const auto& [name, builtin] : TheRegistry().templates) names.push_back(name);
  return names;
}

const TaskKind* DefaultTaskKind(std::string_view source) {
  for (const auto& [name, kind] : TheRegistry().kinds) {
    if (kind.default_for_source && kind.source == source) return &kind;
  }
  return nullptr;
}

absl::StatusOr<const TaskKind*> ResolveTaskKind(const TaskSpec& spec) {
  if (!spec.kind.empty()) {
    const TaskKind* kind = FindTaskKind(spec.kind);
    if (kind == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("task.kind: unknown task kind '", spec.kind, "' (known: ",
                                                     absl::StrJoin(TaskKindNames(), ", "), ")"));
    }
    if (kind->source != spec.source) {
      return absl::InvalidArgumentError(absl::StrCat("task.source: '", spec.source, "', but task kind '", kind->name,
                                                     "' reads source '", kind->source, "'"));
    }
    return kind;
  }
  if (const TaskKind* kind = DefaultTaskKind(spec.source); kind != nullptr) return kind;
  return absl::InvalidArgumentError(absl::StrCat("task.kind: required, no task kind is the default of source '",
                                                 spec.source, "' (known kinds: ",
                                                 absl::StrJoin(TaskKindNames(), ", "), ")"));
}

const TaskMetric* MetricOf(const TaskKind& kind) { return kind.metric.name.empty() ? nullptr : &kind.metric; }

}  // namespace promptintern
