// `promptintern report RUN_DIR`: the comparison a finished run left in its report.json (what
// `promptintern train` printed at its end), for a run that went through the trainer service too.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "client/cli/commands.h"
#include "core/pipeline/run_report.h"

namespace promptintern::cli {

void RegisterReportCommand(CLI::App& app, std::function<int()>* run) {
  CLI::App* command = app.add_subcommand("report", "Print a finished run's comparison of inference modes");
  auto run_dir = std::make_shared<std::string>();
  command->add_option("run_dir", *run_dir, "The run's output directory (where report.json is)")->required();
  command->callback([run, run_dir] {
    *run = [run_dir]() {
      absl::StatusOr<PipelineReport> report = ReadPipelineReport(*run_dir);
      if (!report.ok()) {
        std::cerr << "promptintern report: " << report.status().message() << "\n";
        return 1;
      }
      std::cout << FormatModeTable(*report);
      for (const ModeReport& mode : report->modes) {
        std::cout << mode.mode << ": " << mode.requests << " validation examples scored\n";
      }
      if (report->promotion) std::cout << "promotion gate: " << report->promotion->reason << "\n";
      return 0;
    };
  });
}

}  // namespace promptintern::cli
