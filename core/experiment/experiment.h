// Runs an experiment's matrix (core/experiment/experiment_spec.h): every row times every seed is a
// cell, one PromptIntern job. A cell is identified by the content hash of its resolved job (the
// canonical YAML of core/pipeline/job_spec.h with seed and budgeted steps set, output.dir and threads
// left out), so rows that resolve to the same job share one cell (a job evaluated in several
// inference modes is trained once), and a finished cell is never run again: a killed or
// interrupted experiment picks up where it stopped, and an unfinished cell resumes from its own last
// checkpoint (the pipeline's resumption).
//
// Layout of the output directory (file names are defined in experiment.cc only):
//   cells/<id>/            the cell's run directory (job.yaml, report.json, examples/, state/, final/)
//   cells/<id>/cell.json   written when the cell has finished: rows, seed, wall time, where it ran
//   budgets.json           each token-budgeted row's estimate and resolved step count, fixed on first
//                          use so that a resumed experiment resolves exactly the same cells
//   cells.log              one line per cell start and finish, appended (what ran, and when)
//   experiment.json        the command, the machine and when each invocation started
//
// Cells run in seed-major order (seed 1 of every row, then seed 2, ...), so an experiment stopped
// early has comparable seeds for every row.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/experiment/experiment_spec.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern {

struct ExperimentCell {
  std::string id;          // 16 hex digits of the SHA-256 of the resolved job
  uint64_t seed = 0;
  std::vector<int> rows;   // indices into ExperimentSpec::rows that this cell serves
  JobSpec job;             // output_dir = <experiment>/cells/<id>
  std::string run_dir;     // == job.output_dir
};

// The id of a resolved job: output.dir and threads do not change what a run computes (threads only
// the order of floating-point reductions) and are left out.
std::string CellId(const JobSpec& job);

// Resolves budgets (reading or extending <output_dir>/budgets.json) and lists the cells in run order.
// `threads` > 0 replaces every job's thread count.
absl::StatusOr<std::vector<ExperimentCell>> PlanCells(const ExperimentSpec& spec, const std::string& output_dir,
                                                      int threads);

// A finished cell has a report and its cell.json.
bool CellFinished(const ExperimentCell& cell);

// Runs one cell's job; `on_event` sees the pipeline's events. The local runner calls RunPipeline in
// this process; client/ has one that submits to the trainer service.
class CellRunner {
 public:
  virtual ~CellRunner() = default;
  // Leaves the run's report.json and examples/ in cell.run_dir when it succeeds. `where` is recorded
  // in cell.json (e.g. "local" or "trainer 10.0.0.5:50051 job 0007").
  virtual absl::Status Run(const ExperimentCell& cell, const std::function<void(const PipelineEvent&)>& on_event,
                           std::string* where) = 0;
};

class LocalCellRunner : public CellRunner {
 public:
  absl::Status Run(const ExperimentCell& cell, const std::function<void(const PipelineEvent&)>& on_event,
                   std::string* where) override;
};

struct ExperimentProgress {
  enum class Kind { kCellSkipped, kCellStarted, kCellEvent, kCellFinished };
  Kind kind = Kind::kCellStarted;
  const ExperimentCell* cell = nullptr;
  int cell_number = 0;     // 1-based position in the matrix
  int cells = 0;
  int finished = 0;        // cells finished so far, this invocation and earlier ones
  double cell_seconds = 0.0;
  double eta_seconds = 0.0;  // for the rest of the matrix, from this invocation's cells; 0 = unknown
  const PipelineEvent* event = nullptr;  // kCellEvent
};

struct ExperimentRunOptions {
  std::string output_dir;
  std::string command;  // recorded in experiment.json
  std::function<void(const ExperimentProgress&)> on_progress;
  // Called after each finished cell (and once before the first), e.g. to rewrite the report.
  std::function<void()> on_cell_finished;
};

// Runs every unfinished cell in order; stops at the first failing cell with its error.
absl::Status RunCells(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells, CellRunner& runner,
                      const ExperimentRunOptions& options);

// Invocations recorded in experiment.json, oldest first: each with "command", "cpu", "cores",
// "started" (RFC 3339, UTC).
std::string ExperimentInvocationsJson(const std::string& output_dir);

}  // namespace promptintern
