// The experiment report: Markdown with tables and SVG plots, from whatever cells have finished.
//
// Tables (one set per table of the experiment file), each row from its finished seeds:
//   - accuracy: BLEU, exact match and the task's own metric as mean ± standard deviation over seeds with
//     the bootstrap interval (core/experiment/statistics.h) over examples and seeds;
//   - budget and cost: input tokens per request, $ per 1k requests, p50 latency, optimizer steps and
//     training tokens actually used, training time;
//   - paired comparison with the table's baseline on the same examples: difference, its interval,
//     p-value, and "better" / "worse" / "not distinguishable" (interval includes 0 or p >= alpha).
// Plots (core/experiment/svg_plot.h), linked relatively so they show in a browser and on GitHub:
//   accuracy.svg   BLEU against input tokens per request, one series (one point) per row, interval bars
//   stages.svg     validation BLEU after each stage, one series per distinct job, ± 1 SD over seeds
//   loss.svg       training loss at the end of each stage, same series
//   cost.svg       $ per 1k requests, one bar per row
// A row whose cells have not finished is listed with the seeds it has (possibly none).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/experiment/experiment.h"
#include "core/experiment/experiment_spec.h"

namespace promptintern {

struct ReportOptions {
  std::string markdown_path;  // the report file
  std::string plots_dir;      // its SVGs; linked relative to markdown_path's directory
  std::string command;        // the command that ran the experiment, shown in the report
  std::string invocations_json;  // ExperimentInvocationsJson: where and when it ran
};

// The plot files and the default report location inside an experiment's output directory.
ReportOptions DefaultReportOptions(const std::string& output_dir);
// FILE, with its plots in FILE's directory under FILE's lower-cased stem (docs/RESULTS.md ->
// docs/results/).
ReportOptions ReportOptionsFor(const std::string& markdown_path);

absl::Status WriteExperimentReport(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells,
                                   const ReportOptions& options);

}  // namespace promptintern
