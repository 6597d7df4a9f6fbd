// `promptintern job-fields [SECTION] [--update FILE]`: the job file's field reference, generated
// from the schema (core/pipeline/job_schema.h), so the documentation cannot drift from the parser.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "client/cli/commands.h"
#include "core/pipeline/job_schema.h"
#include "core/util/file.h"

namespace promptintern::cli {

void RegisterJobFieldsCommand(CLI::App& app, std::function<int()>* run) {
  struct Flags {
    std::string section;
    std::string update;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "job-fields", "Print the job file's fields (type, default, bounds, meaning) as Markdown tables");
  command->add_option("section", flags->section, "Only this top-level section (model, task, ...; top for the top level)");
  command->add_option("--update", flags->update,
                      "Rewrite the tables between <!-- job-fields: SECTION --> and <!-- /job-fields --> in this "
                      "Markdown file (examples/jobs/README.md)");
  command->callback([run, flags] {
    *run = [flags]() {
      if (!flags->update.empty()) {
        absl::StatusOr<std::string> text = ReadFile(flags->update);
        absl::StatusOr<std::string> updated = text.ok() ? UpdateJobFieldReference(*text) : text;
        absl::Status written = updated.ok() ? WriteFileAtomic(flags->update, *updated) : updated.status();
        if (!written.ok()) {
          std::cerr << "promptintern job-fields: " << flags->update << ": " << written.message() << "\n";
          return 1;
        }
        return 0;
      }
      for (const std::string& section : JobReferenceSections()) {
        const std::string name = section.empty() ? "top" : section;
        if (!flags->section.empty() && flags->section != name) continue;
        std::cout << "## " << name << "\n\n" << JobFieldReference(section) << "\n";
        if (!flags->section.empty()) return 0;
      }
      if (!flags->section.empty()) {
        std::cerr << "promptintern job-fields: no section '" << flags->section << "'\n";
        return 2;
      }
      return 0;
    };
  });
}

}  // namespace promptintern::cli
