// promptintern: the command-line front end of the PromptIntern core library.
#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>

#include "client/cli/commands.h"
#include "core/platform/blas_dispatch.h"

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "promptintern");
  CLI::App app{"PromptIntern: internalize a recurring prompt into a model's weights, then serve it"};
  app.require_subcommand(1);
  std::function<int()> run;
  promptintern::cli::RegisterGenerateCommand(app, &run);
  promptintern::cli::RegisterTrainCommand(app, &run);
  promptintern::cli::RegisterReportCommand(app, &run);
  promptintern::cli::RegisterTrainerCommands(app, &run);
  promptintern::cli::RegisterBenchCommand(app, &run);
  promptintern::cli::RegisterTokenizeCommand(app, &run);
  promptintern::cli::RegisterExperimentCommand(app, &run);
  promptintern::cli::RegisterImportCommand(app, &run);
  promptintern::cli::RegisterJobFieldsCommand(app, &run);
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 1;
}
