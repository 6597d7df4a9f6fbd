// promptintern experiment: an experiment file's matrix of jobs times seeds, run here or on the
// trainer service, resumable, then the report (core/experiment).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/connection_flags.h"
#include "client/lib/trainer_client.h"
#include "core/experiment/experiment.h"
#include "core/experiment/experiment_spec.h"
#include "core/experiment/report.h"
#include "core/jobs/job_manager.h"
#include "core/util/file.h"
#include "core/util/filenames.h"

namespace promptintern::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kTrainerJobFile[] = "trainer_job";

// Submits each cell to the trainer service and waits for it. The service picks its own run
// directory, and its API reports no per-example scores, so the results are copied from the
// trainer's data directory, which must be readable here (same machine or shared storage).
class TrainerCellRunner : public CellRunner {
 public:
  TrainerCellRunner(TrainerClient client, std::string address, std::string data_dir)
      : client_(std::move(client)), address_(std::move(address)), data_dir_(std::move(data_dir)) {}

  absl::Status Run(const ExperimentCell& cell, const std::function<void(const PipelineEvent&)>& on_event,
                   std::string* where) override {
    if (absl::Status made = MakeDirectories(cell.run_dir); !made.ok()) return made;
    const std::string id_path = JoinPath(cell.run_dir, kTrainerJobFile);
    std::string job_id;
    // A cell submitted by an earlier invocation is followed, not submitted again, unless it failed.
    if (absl::StatusOr<std::string> earlier = ReadFile(id_path); earlier.ok() && !earlier->empty()) {
      absl::StatusOr<v1::Job> job = client_.GetJob(*earlier);
      if (job.ok() && job->state() != v1::JOB_STATE_FAILED && job->state() != v1::JOB_STATE_CANCELLED) {
        job_id = *earlier;
      }
    }
    if (job_id.empty()) {
      // The trainer chooses the run directory itself; a path of this machine means nothing there.
      JobSpec submitted = cell.job;
      submitted.output_dir = "run";
      absl::StatusOr<v1::Job> job = client_.SubmitJob(JobSpecToYaml(submitted));
      if (!job.ok()) return job.status();
      job_id = job->job_id();
      if (absl::Status saved = WriteFileAtomic(id_path, job_id); !saved.ok()) return saved;
    }
    *where = absl::StrCat("trainer ", address_, " job ", job_id);
    absl::Status watched = client_.WatchJob(job_id, [&](const v1::JobEvent& event) {
      PipelineEvent progress;
      progress.kind = event.kind() == v1::JobEvent::KIND_EVALUATION ? PipelineEvent::Kind::kEvaluation
                                                                     : PipelineEvent::Kind::kProgress;
      if (event.kind() != v1::JobEvent::KIND_PROGRESS && event.kind() != v1::JobEvent::KIND_EVALUATION) return true;
      progress.stage = event.stage();
      progress.num_stages = event.num_stages();
      progress.step = event.step();
      progress.total_steps = event.total_steps();
      progress.loss = event.loss();
      progress.learning_rate = event.learning_rate();
      progress.tokens_per_second = event.tokens_per_second();
      progress.eta_seconds = event.eta_seconds();
      progress.message = event.message();
      for (const auto& [name, value] : event.metrics()) progress.metrics[name] = value;
      on_event(progress);
      return true;
    });
    if (!watched.ok()) return watched;
    absl::StatusOr<v1::Job> job = client_.GetJob(job_id);
    if (!job.ok()) return job.status();
    if (job->state() != v1::JOB_STATE_SUCCEEDED) {
      return absl::AbortedError(absl::StrCat("trainer job ", job_id, " ended ", v1::JobState_Name(job->state()), ": ",
                                             job->error()));
    }
    return CopyResults(JobRunDirectory(data_dir_, job_id), cell.run_dir);
  }

 private:
  static absl::Status CopyResults(const std::string& from, const std::string& to) {
    std::error_code error;
    for (const char* name : {kJobFile, kReportFile}) {
      fs::copy_file(JoinPath(from, name), JoinPath(to, name), fs::copy_options::overwrite_existing, error);
      if (error) {
        return absl::NotFoundError(absl::StrCat("copying ", name, " from the trainer's run directory ", from, ": ",
                                                error.message(), " (is --trainer-data-dir the trainer's --data-dir?)"));
      }
    }
    fs::copy(JoinPath(from, kExamplesDir), JoinPath(to, kExamplesDir),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing, error);
    if (error) return absl::NotFoundError(absl::StrCat("copying the per-example scores from ", from, ": ", error.message()));
    return absl::OkStatus();
  }

  TrainerClient client_;
  std::string address_;
  std::string data_dir_;
};

void PrintProgress(const ExperimentSpec& spec, const ExperimentProgress& update) {
  const ExperimentCell& cell = *update.cell;
  std::vector<std::string> rows;
  for (int r : cell.rows) rows.push_back(spec.rows[r].name);
  const std::string where = absl::StrFormat("[cell %d/%d %s seed %d]", update.cell_number, update.cells,
                                            absl::StrJoin(rows, "+"), cell.seed);
  const std::string eta = update.eta_seconds > 0 ? absl::StrCat(", ETA ", FormatDuration(update.eta_seconds)) : "";
  switch (update.kind) {
    case ExperimentProgress::Kind::kCellSkipped:
      std::fprintf(stderr, "%s finished earlier (%s); skipped\n", where.c_str(), cell.id.c_str());
      break;
    case ExperimentProgress::Kind::kCellStarted:
      std::fprintf(stderr, "%s started (%s, %ld steps); %d of %d cells done%s\n", where.c_str(), cell.id.c_str(),
                   cell.job.training.steps, update.finished, update.cells, eta.c_str());
      break;
    case ExperimentProgress::Kind::kCellFinished:
      std::fprintf(stderr, "%s finished in %s; %d of %d cells done%s\n", where.c_str(),
                   FormatDuration(update.cell_seconds).c_str(), update.finished, update.cells, eta.c_str());
      break;
    case ExperimentProgress::Kind::kCellEvent: {
      const PipelineEvent& event = *update.event;
      if (event.kind == PipelineEvent::Kind::kProgress) {
        std::fprintf(stderr, "%s stage %d/%d step %ld/%ld loss %.4f %.0f tok/s, cell ETA %s; %d of %d cells done%s\n",
                     where.c_str(), event.stage + 1, event.num_stages, event.step, event.total_steps, event.loss,
                     event.tokens_per_second, FormatDuration(event.eta_seconds).c_str(), update.finished, update.cells,
                     eta.c_str());
      } else if (event.kind == PipelineEvent::Kind::kEvaluation) {
        std::string metrics;
        for (const auto& [name, value] : event.metrics) absl::StrAppendFormat(&metrics, " %s=%.4g", name, value);
        std::fprintf(stderr, "%s evaluation %s%s\n", where.c_str(),
                     event.message.empty() ? absl::StrCat("after stage ", event.stage + 1).c_str() : event.message.c_str(),
                     metrics.c_str());
      }
      break;
    }
  }
}

struct ExperimentFlags {
  std::string config_path;
  std::string output_dir;
  std::string report_path;
  std::string trainer_data_dir;
  int threads = 0;
  bool report_only = false;
  ConnectionFlags connection;
  CLI::Option* server = nullptr;
};

int RunExperimentCommand(const ExperimentFlags& flags, const std::string& command_line) {
  absl::StatusOr<ExperimentSpec> spec = LoadExperimentSpec(flags.config_path);
  if (!spec.ok()) {
    std::cerr << "promptintern experiment: " << spec.status().message() << "\n";
    return 2;
  }
  const std::string output_dir = flags.output_dir.empty() ? spec->output_dir : fs::absolute(flags.output_dir).string();
  const bool remote = flags.server->count() > 0;
  if (remote && flags.trainer_data_dir.empty()) {
    std::cerr << "promptintern experiment: --server needs --trainer-data-dir (the trainer's --data-dir, readable "
                 "here): the per-example scores are read from its run directories\n";
    return 2;
  }
  absl::StatusOr<std::vector<ExperimentCell>> cells = PlanCells(*spec, output_dir, flags.threads);
  if (!cells.ok()) {
    std::cerr << "promptintern experiment: " << cells.status().message() << "\n";
    return 1;
  }
  std::vector<ReportOptions> reports = {DefaultReportOptions(output_dir)};
  if (!flags.report_path.empty()) reports.push_back(ReportOptionsFor(fs::absolute(flags.report_path).string()));
  const auto write_reports = [&] {
    for (ReportOptions& report : reports) {
      report.command = command_line;
      report.invocations_json = ExperimentInvocationsJson(output_dir);
      absl::Status written = WriteExperimentReport(*spec, *cells, report);
      if (!written.ok()) std::cerr << "promptintern experiment: writing the report: " << written.message() << "\n";
    }
  };
  if (flags.report_only) {
    write_reports();
    std::fprintf(stderr, "report: %s\n", reports.back().markdown_path.c_str());
    return 0;
  }
  std::unique_ptr<CellRunner> runner;
  if (remote) {
    absl::StatusOr<Connection> connection = OpenConnection(flags.connection);
    if (!connection.ok()) {
      std::cerr << "promptintern experiment: " << connection.status().message() << "\n";
      return 2;
    }
    runner = std::make_unique<TrainerCellRunner>(TrainerClient(*std::move(connection)), flags.connection.options.address,
                                                 fs::absolute(flags.trainer_data_dir).string());
  } else {
    runner = std::make_unique<LocalCellRunner>();
  }
  std::fprintf(stderr, "experiment %s: %zu rows x %zu seeds = %zu cells in %s\n", spec->name.c_str(), spec->rows.size(),
               spec->seeds.size(), cells->size(), output_dir.c_str());
  ExperimentRunOptions options;
  options.output_dir = output_dir;
  options.command = command_line;
  options.on_progress = [&](const ExperimentProgress& update) { PrintProgress(*spec, update); };
  options.on_cell_finished = write_reports;
  absl::Status status = RunCells(*spec, *cells, *runner, options);
  if (!status.ok()) {
    std::cerr << "promptintern experiment: " << status.message() << "\n";
    return 1;
  }
  std::fprintf(stderr, "experiment %s: all %zu cells done; report: %s\n", spec->name.c_str(), cells->size(),
               reports.back().markdown_path.c_str());
  return 0;
}

}  // namespace

void RegisterExperimentCommand(CLI::App& app, std::function<int()>* run) {
  auto flags = std::make_shared<ExperimentFlags>();
  CLI::App* command = app.add_subcommand(
      "experiment",
      "Run an experiment file's matrix of jobs x seeds (resumable: finished cells are never run again), then write "
      "its report with confidence intervals, paired tests and plots");
  command->add_option("--config", flags->config_path, "YAML experiment file")->required();
  command->add_option("--output", flags->output_dir, "Output directory (overrides the file's output)");
  command->add_option("--report", flags->report_path,
                      "Also write the report here, plots beside it (docs/RESULTS.md -> docs/results/*.svg)");
  command->add_option("--threads", flags->threads, "Compute threads for every cell (overrides the jobs' threads)")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--report-only", flags->report_only, "Write the report from the finished cells; run nothing");
  flags->server = AddConnectionFlags(command, &flags->connection, "Submit the cells to this trainer service");
  command->add_option("--trainer-data-dir", flags->trainer_data_dir,
                      "With --server: the trainer's --data-dir, readable here (per-example scores are read from it)");
  command->callback([flags, run] {
    *run = [flags] {
      // The command, for the report, rebuilt from the flags (the ones that change what is run).
      std::string line = absl::StrCat("promptintern experiment --config ", flags->config_path);
      if (!flags->output_dir.empty()) absl::StrAppend(&line, " --output ", flags->output_dir);
      if (flags->threads > 0) absl::StrAppend(&line, " --threads ", flags->threads);
      if (!flags->report_path.empty()) absl::StrAppend(&line, " --report ", flags->report_path);
      if (flags->server->count() > 0) {
        absl::StrAppend(&line, " --server ", flags->connection.options.address, " --trainer-data-dir ",
                        flags->trainer_data_dir);
      }
      return RunExperimentCommand(*flags, line);
    };
  });
}

}  // namespace promptintern::cli
