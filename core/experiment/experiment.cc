#include "core/experiment/experiment.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/pipeline/token_budget.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr size_t kCellIdLength = 16;

std::string NowRfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// "AMD EPYC 7B13 (OpenBLAS core Zen)": the figures of a report mean little without it.
std::string DescribeCpu() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  // OpenBLAS misdetects some CPUs (see docs/PERFORMANCE.md); the kernel it chose is part of the setup.
  using CoreName = char* (*)();
  if (auto core = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename")); core != nullptr) {
    absl::StrAppend(&model, " (OpenBLAS core ", core(), ")");
  }
  return model;
}

absl::Status AppendLog(const std::string& output_dir, const std::string& line) {
  const std::string path = JoinPath(output_dir, kCellsLog);
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) return absl::InternalError(absl::StrCat("cannot append to ", path));
  std::fprintf(file, "%s %s\n", NowRfc3339().c_str(), line.c_str());
  const bool ok = std::fflush(file) == 0;
  std::fclose(file);
  return ok ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot append to ", path));
}

absl::StatusOr<json> ReadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
  return value;
}

// The token-budgeted row's step count: from budgets.json when this row and budget were resolved
// before, else estimated now and recorded.
absl::StatusOr<int64_t> BudgetedSteps(const ExperimentRow& row, json& budgets, bool& budgets_changed) {
  if (row.budget.kind == BudgetSpec::Kind::kJob) return row.job.training.steps;
  if (row.budget.kind == BudgetSpec::Kind::kSteps) return row.budget.value;
  JobSpec reference = row.job;
  reference.seed = 1;
  const std::string key = absl::StrCat(CellId(reference), ":tokens=", row.budget.value);
  if (budgets.contains(key) && budgets[key].contains("steps") && budgets[key]["steps"].is_number_integer()) {
    return budgets[key]["steps"].get<int64_t>();
  }
  std::fprintf(stderr, "[experiment] %s: estimating tokens per step for a budget of %ld tokens\n", row.name.c_str(),
               row.budget.value);
  absl::StatusOr<std::vector<double>> per_step = EstimateTokensPerStep(reference);
  if (!per_step.ok()) {
    return absl::Status(per_step.status().code(),
                        absl::StrCat("row ", row.name, ": estimating its token budget: ", per_step.status().message()));
  }
  ASSIGN_OR_RETURN(const int64_t steps, StepsForTokenBudget(row.job.schedule, *per_step, row.budget.value));
  ASSIGN_OR_RETURN(const double estimated, EstimatedTokens(row.job.schedule, *per_step, steps));
  budgets[key] = {{"row", row.name},
                  {"token_budget", row.budget.value},
                  {"tokens_per_step", *per_step},
                  {"steps", steps},
                  {"estimated_tokens", estimated}};
  budgets_changed = true;
  return steps;
}

}  // namespace

std::string CellId(const JobSpec& job) {
  JobSpec identity = job;
  identity.output_dir.clear();
  identity.threads = 0;
  absl::StatusOr<std::string> digest = Sha256Hex(JobSpecToYaml(identity));
  // OpenSSL's SHA-256 does not fail short of a broken installation.
  return digest.ok() ? digest->substr(0, kCellIdLength) : std::string(kCellIdLength, '0');
}

absl::StatusOr<std::vector<ExperimentCell>> PlanCells(const ExperimentSpec& spec, const std::string& output_dir,
                                                      int threads) {
  RETURN_IF_ERROR(MakeDirectories(JoinPath(output_dir, kCellsDir)));
  const std::string budgets_path = JoinPath(output_dir, kBudgetsFile);
  json budgets = json::object();
  if (PathExists(budgets_path)) {
    ASSIGN_OR_RETURN(budgets, ReadJsonFile(budgets_path));
  }
  bool budgets_changed = false;
  std::vector<int64_t> steps;
  for (const ExperimentRow& row : spec.rows) {
    ASSIGN_OR_RETURN(const int64_t row_steps, BudgetedSteps(row, budgets, budgets_changed));
    // The job file's own checks, applied to the budgeted step count before anything runs.
    if (row_steps <= row.job.training.warmup_steps) {
      return absl::InvalidArgumentError(absl::StrCat("row ", row.name, ": its budget gives ", row_steps,
                                                     " steps, not more than training.warmup_steps (",
                                                     row.job.training.warmup_steps, ")"));
    }
    absl::Status stages = BuildStages(row.job.schedule, row_steps).status();
    if (!stages.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", row.name, ": its budget gives ", row_steps, " steps: ", stages.message()));
    }
    steps.push_back(row_steps);
  }
  if (budgets_changed) RETURN_IF_ERROR(WriteFileAtomic(budgets_path, budgets.dump(1) + "\n"));

  std::vector<ExperimentCell> cells;
  std::map<std::string, size_t> by_id;
  for (uint64_t seed : spec.seeds) {
    for (size_t r = 0; r < spec.rows.size(); ++r) {
      JobSpec job = spec.rows[r].job;
      job.seed = seed;
      job.training.steps = steps[r];
      if (threads > 0) job.threads = threads;
      const std::string id = CellId(job);
      if (const auto found = by_id.find(id); found != by_id.end()) {
        cells[found->second].rows.push_back(static_cast<int>(r));
        continue;
      }
      ExperimentCell cell;
      cell.id = id;
      cell.seed = seed;
      cell.rows = {static_cast<int>(r)};
      cell.run_dir = JoinPath(JoinPath(output_dir, kCellsDir), id);
      job.output_dir = cell.run_dir;
      // A cell started with another thread count resumes with it: the pipeline refuses a run
      // directory whose job differs, and the thread count is not part of the cell's identity.
      const std::string started = JoinPath(cell.run_dir, kJobFile);
      if (PathExists(started) && !PathExists(JoinPath(cell.run_dir, kReportFile))) {
        absl::StatusOr<JobSpec> earlier = LoadJobSpec(started);
        if (earlier.ok()) job.threads = earlier->threads;
      }
      cell.job = std::move(job);
      by_id[id] = cells.size();
      cells.push_back(std::move(cell));
    }
  }
  return cells;
}

bool CellFinished(const ExperimentCell& cell) {
  return PathExists(JoinPath(cell.run_dir, kReportFile)) && PathExists(JoinPath(cell.run_dir, kCellFile));
}

absl::Status LocalCellRunner::Run(const ExperimentCell& cell, const std::function<void(const PipelineEvent&)>& on_event,
                                  std::string* where) {
  PipelineControl control;
  control.on_event = on_event;
  *where = "local";
  return RunPipeline(cell.job, control).status();
}

std::string ExperimentInvocationsJson(const std::string& output_dir) {
  absl::StatusOr<json> root = ReadJsonFile(JoinPath(output_dir, kExperimentFile));
  if (!root.ok() || !root->contains("invocations")) return "[]";
  return (*root)["invocations"].dump();
}

absl::Status RunCells(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells, CellRunner& runner,
                      const ExperimentRunOptions& options) {
  const std::string& output_dir = options.output_dir;
  RETURN_IF_ERROR(MakeDirectories(output_dir));
  const std::string invocations_path = JoinPath(output_dir, kExperimentFile);
  json invocations = json::object();
  if (PathExists(invocations_path)) {
    ASSIGN_OR_RETURN(invocations, ReadJsonFile(invocations_path));
  }
  if (!invocations.contains("invocations") || !invocations["invocations"].is_array()) {
    invocations["invocations"] = json::array();
  }
  invocations["experiment"] = spec.name;
  invocations["invocations"].push_back({{"command", options.command},
                                        {"cpu", DescribeCpu()},
                                        {"cores", std::thread::hardware_concurrency()},
                                        {"started", NowRfc3339()}});
  RETURN_IF_ERROR(WriteFileAtomic(invocations_path, invocations.dump(1) + "\n"));

  const int total = static_cast<int>(cells.size());
  int finished = 0;
  for (const ExperimentCell& cell : cells) finished += CellFinished(cell) ? 1 : 0;
  if (options.on_cell_finished) options.on_cell_finished();
  const auto progress = [&](ExperimentProgress update) {
    update.cells = total;
    update.finished = finished;
    if (options.on_progress) options.on_progress(update);
  };
  double seconds_this_run = 0.0;
  int cells_this_run = 0;
  for (int i = 0; i < total; ++i) {
    const ExperimentCell& cell = cells[i];
    if (CellFinished(cell)) {
      progress({.kind = ExperimentProgress::Kind::kCellSkipped, .cell = &cell, .cell_number = i + 1});
      continue;
    }
    const double eta = cells_this_run == 0 ? 0.0 : seconds_this_run / cells_this_run * (total - finished);
    progress({.kind = ExperimentProgress::Kind::kCellStarted, .cell = &cell, .cell_number = i + 1, .eta_seconds = eta});
    RETURN_IF_ERROR(AppendLog(output_dir, absl::StrCat("started ", cell.id, " seed ", cell.seed)));
    const auto start = std::chrono::steady_clock::now();
    std::string where;
    absl::Status status = runner.Run(
        cell,
        [&](const PipelineEvent& event) {
          progress({.kind = ExperimentProgress::Kind::kCellEvent, .cell = &cell, .cell_number = i + 1,
                    .eta_seconds = eta, .event = &event});
        },
        &where);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!status.ok()) {
      (void)AppendLog(output_dir, absl::StrCat("failed ", cell.id, ": ", status.message()));
      return absl::Status(status.code(), absl::StrCat("cell ", cell.id, " (", spec.rows[cell.rows.front()].name,
                                                      ", seed ", cell.seed, "): ", status.message()));
    }
    if (!PathExists(JoinPath(cell.run_dir, kReportFile))) {
      return absl::InternalError(absl::StrCat("cell ", cell.id, " ran but left no ", kReportFile, " in ", cell.run_dir));
    }
    json rows = json::array();
    for (int r : cell.rows) rows.push_back(spec.rows[r].name);
    const json record = {{"id", cell.id}, {"seed", cell.seed},       {"rows", rows},
                         {"where", where}, {"wall_seconds", seconds}, {"finished", NowRfc3339()}};
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(cell.run_dir, kCellFile), record.dump(1) + "\n"));
    RETURN_IF_ERROR(AppendLog(output_dir, absl::StrCat("finished ", cell.id, " in ", absl::StrFormat("%.1f", seconds), " s")));
    ++finished;
    ++cells_this_run;
    seconds_this_run += seconds;
    progress({.kind = ExperimentProgress::Kind::kCellFinished, .cell = &cell, .cell_number = i + 1,
              .cell_seconds = seconds, .eta_seconds = seconds_this_run / cells_this_run * (total - finished)});
    if (options.on_cell_finished) options.on_cell_finished();
  }
  return absl::OkStatus();
}

}  // namespace promptintern
