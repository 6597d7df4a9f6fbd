// The YAML experiment file: a matrix of PromptIntern jobs (rows: methods, schedules, budgets, each
// a job file plus overrides) times N seeds, and how to report it (tables, each with a baseline that
// every other row is tested against). Parsed and validated before any work starts, in the style of
// core/pipeline/job_spec.h: every error names the field as a dotted path ("rows[2].budget.tokens"),
// says what is wrong and ends with " (line L, column C)" where the field is in the file. Unknown
// fields are errors. Each row's job is resolved here (job file read and validated, overrides
// merged), so a bad override is reported against the experiment file, at the override's line.
//
//   name: nl2bash-seeds                       # [A-Za-z0-9._-], at most 64 characters
//   description: "Markdown shown under the report's title"
//   preamble: results_setup.md                # optional Markdown file, inserted after the description
//   seeds: 5                                  # 1..5; or a list: [1, 2, 7]
//   budget: {tokens: 700000}                  # or {steps: 800}; absent: each job's training.steps
//   overrides: {eval: {limit: 200}}           # merged into every row's job (mappings merge, the rest
//                                             # replaces; a mapping given another `kind` is replaced whole)
//   baseline: promptintern                    # the tables' default baseline row
//   bootstrap: {resamples: 2000, seed: 1, confidence: 0.95}
//   output: ../runs/experiments/nl2bash       # default: runs/experiments/<name>
//   rows:
//     - name: promptintern                    # unique, [a-z0-9_-]
//       label: PromptIntern (query only)      # default: the name
//       job: ../jobs/nl2bash/promptintern.yaml
//       mode: query_only                      # the inference mode this row reports (one of the job's eval.modes)
//       budget: {steps: 800}                  # overrides the experiment's budget
//       overrides: {schedule: {kind: linear}} # merged after the experiment's overrides
//   tables:                                   # default: one table of every row
//     - title: PromptIntern against the baselines
//       baseline: promptintern
//       rows: [promptintern, full-prompt, query-only]
//
// Relative paths resolve against the experiment file's directory, except paths inside overrides,
// which are job fields and resolve against the job file's directory like the job's own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pipeline/job_spec.h"

namespace promptintern {

struct BudgetSpec {
  enum class Kind { kJob, kSteps, kTokens };
  Kind kind = Kind::kJob;  // kJob: the job file's own training.steps
  int64_t value = 0;       // optimizer steps or training tokens
};

struct ExperimentRow {
  std::string name;
  std::string label;
  std::string job_path;  // absolute
  std::string mode;
  BudgetSpec budget;
  // The job file with the experiment's and the row's overrides applied; seed, training.steps (for
  // a budget) and output.dir are set per cell later.
  JobSpec job;
};

struct ExperimentTable {
  std::string title;
  std::string baseline;  // a row name, "" for none
  std::vector<std::string> rows;
};

struct BootstrapSpec {
  int resamples = 2000;
  uint64_t seed = 1;
  double confidence = 0.95;
};

struct ExperimentSpec {
  std::string name;
  std::string description;
  std::string preamble;  // the preamble file's text
  std::vector<uint64_t> seeds;
  std::vector<ExperimentRow> rows;
  std::vector<ExperimentTable> tables;
  BootstrapSpec bootstrap;
  std::string output_dir;  // absolute
  std::string source;      // the file it was read from, for messages

  // Index of the row called `name`, or -1.
  int RowIndex(const std::string& name) const;
};

// Parses `yaml_text`; relative paths resolve against `base_dir`. Errors are InvalidArgument and
// begin with `source` (the file name shown to the user).
absl::StatusOr<ExperimentSpec> ParseExperimentSpec(const std::string& yaml_text, const std::string& base_dir,
                                                   const std::string& source);
// Reads `path` (NotFound when missing) and parses it against its directory.
absl::StatusOr<ExperimentSpec> LoadExperimentSpec(const std::string& path);

}  // namespace promptintern
