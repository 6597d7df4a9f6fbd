// The bash tasks: the synthetic English-to-bash generator (the embedded default job's task, the
// default of source "synthetic") and NL2Bash-style JSONL files (the default of source "jsonl").
// Both use the built-in "bash" template and score answers by their bash structure as well.
#include "core/task/task_kind.h"
#include "tasks/bash/bash_structure.h"
#include "tasks/bash/bash_template.h"
#include "tasks/bash/synthetic_bash.h"

namespace promptintern {
namespace {

TaskMetric StructureMetric() { return {"structure", BashStructureScore}; }

TaskSplits Generate(uint64_t seed, int64_t train, int64_t validation, int64_t pool) {
  SyntheticBashSplits splits = MakeSyntheticBashTask(seed, train, validation, pool);
  return {std::move(splits.train), std::move(splits.validation), std::move(splits.pool)};
}

const bool kRegistered =
    RegisterBuiltinTemplate({"bash", std::string(SyntheticBashInstruction()), std::string(SyntheticBashDocument())}) &&
    RegisterTaskKind({.name = "synthetic-bash",
                      .source = "synthetic",
                      .default_for_source = true,
                      .generate = Generate,
                      .template_name = "bash",
                      .metric = StructureMetric()}) &&
    RegisterTaskKind({.name = "nl2bash",
                      .source = "jsonl",
                      .default_for_source = true,
                      .template_name = "bash",
                      .metric = StructureMetric()});

}  // namespace
}  // namespace promptintern
