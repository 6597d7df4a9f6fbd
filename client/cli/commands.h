// Subcommands of the `promptintern` tool. Each registers its flags on the CLI11 app and returns
// the process exit code when run.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace promptintern::cli {

// Adds `generate` to `app`; `run` is set to the subcommand's action.
void RegisterGenerateCommand(CLI::App& app, std::function<int()>* run);
// Adds `train --config FILE`.
void RegisterTrainCommand(CLI::App& app, std::function<int()>* run);
// Adds the trainer-service commands: submit, jobs, watch, cancel, models, versions, alias, gc.
void RegisterTrainerCommands(CLI::App& app, std::function<int()>* run);
// Adds `report RUN_DIR`: a finished run's comparison of inference modes, from its report.json.
void RegisterReportCommand(CLI::App& app, std::function<int()>* run);
// Adds `tokenize --model DIR [--add-special-tokens | --decode [--skip-special-tokens]]`.
void RegisterTokenizeCommand(CLI::App& app, std::function<int()>* run);
// Adds `import --model DIR --name NAME --registry-dir R [--task FILE] [--base-model LABEL]`.
void RegisterImportCommand(CLI::App& app, std::function<int()>* run);
// Adds `bench --server ADDR --concurrency N --duration S [--mode M]`.
void RegisterBenchCommand(CLI::App& app, std::function<int()>* run);
// Adds `job-fields [SECTION] [--update FILE]`: the job file's field reference from its schema.
void RegisterJobFieldsCommand(CLI::App& app, std::function<int()>* run);
// Adds `experiment --config FILE [--server ADDR --trainer-data-dir DIR] [--output DIR] [--report FILE]`.
void RegisterExperimentCommand(CLI::App& app, std::function<int()>* run);

// "1h02m", "3m07s", "42s": durations in progress lines.
std::string FormatDuration(double seconds);

}  // namespace promptintern::cli
