// Subcommands that talk to the trainer service: submit, jobs, watch, cancel, models, versions, alias, gc.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/connection_flags.h"
#include "client/lib/trainer_client.h"
#include "core/util/file.h"

namespace promptintern::cli {
namespace {

std::string DefaultServer() {
  const char* address = std::getenv("PROMPTINTERN_TRAINER");
  return address != nullptr && *address != '\0' ? address : "127.0.0.1:50051";
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  return name.substr(std::string("JOB_STATE_").size());
}

std::string KindName(v1::JobEvent::Kind kind) {
  std::string name = v1::JobEvent::Kind_Name(kind);
  return name.substr(std::string("KIND_").size());
}

absl::StatusOr<TrainerClient> Connect(const ConnectionFlags& flags) {
  absl::StatusOr<Connection> connection = OpenConnection(flags);
  if (!connection.ok()) return connection.status();
  return TrainerClient(*std::move(connection));
}

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "promptintern " << command << ": " << status.message() << "\n";
  return 1;
}

// One line per event; progress events redraw a bar in place on a terminal.
void PrintEvent(const v1::JobEvent& event, bool terminal) {
  if (event.kind() == v1::JobEvent::KIND_PROGRESS) {
    const double fraction = event.total_steps() > 0 ? static_cast<double>(event.step()) / event.total_steps() : 0;
    const int width = 30;
    const int filled = static_cast<int>(fraction * width);
    std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
    std::fprintf(stderr, "%s[%s] %3.0f%% stage %d/%d step %ld/%ld loss %.4f %.0f tok/s ETA %.0fs%s",
                 terminal ? "\r" : "", bar.c_str(), 100 * fraction, event.stage() + 1, event.num_stages(),
                 event.step(), event.total_steps(), event.loss(), event.tokens_per_second(), event.eta_seconds(),
                 terminal ? "" : "\n");
    return;
  }
  std::string details = event.message();
  for (const auto& [name, value] : event.metrics()) details += absl::StrFormat(" %s=%.4g", name, value);
  if (event.kind() == v1::JobEvent::KIND_STAGE_STARTED) {
    details = absl::StrFormat("stage %d/%d: keep ratio %.2f, %d examples", event.stage() + 1, event.num_stages(),
                              event.keep_ratio(), event.num_examples());
  }
  std::fprintf(stderr, "%s%-14s %s\n", terminal ? "\n" : "", KindName(event.kind()).c_str(), details.c_str());
}

int Watch(TrainerClient& client, const std::string& job_id) {
  const bool terminal = isatty(fileno(stderr));
  absl::Status status = client.WatchJob(job_id, [terminal](const v1::JobEvent& event) {
    PrintEvent(event, terminal);
    return true;
  });
  if (!status.ok()) return Fail("watch", status);
  absl::StatusOr<v1::Job> job = client.GetJob(job_id);
  if (!job.ok()) return Fail("watch", job.status());
  std::printf("%s %s", job->job_id().c_str(), StateName(job->state()).c_str());
  if (job->model_version() > 0) std::printf(" %s@%ld", job->model_name().c_str(), job->model_version());
  if (!job->error().empty()) std::printf(" error: %s", job->error().c_str());
  std::printf("\n");
  return job->state() == v1::JOB_STATE_SUCCEEDED ? 0 : 1;
}

}  // namespace

void RegisterTrainerCommands(CLI::App& app, std::function<int()>* run) {
  auto connection = std::make_shared<ConnectionFlags>();
  connection->options.address = DefaultServer();
  auto add_server = [connection](CLI::App* command) {
    AddConnectionFlags(command, connection.get(), "Trainer address (default $PROMPTINTERN_TRAINER or 127.0.0.1:50051)");
  };

  {
    auto config = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto watch = std::make_shared<bool>(false);
    CLI::App* command = app.add_subcommand("submit", "Submit a job file to the trainer service");
    add_server(command);
    command->add_option("--config", *config, "YAML job file")->required();
    command->add_option("--name", *name, "Job / model name (overrides the file's)");
    command->add_flag("--watch", *watch, "Follow the job to its end");
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<std::string> yaml = ReadFile(*config);
        if (!yaml.ok()) return Fail("submit", yaml.status());
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("submit", client.status());
        // Relative paths in the file mean what they mean beside the file, as with `train`.
        const std::string base_dir = std::filesystem::absolute(*config).parent_path().string();
        absl::StatusOr<v1::Job> job = client->SubmitJob(*yaml, *name, base_dir);
        if (!job.ok()) return Fail("submit", job.status());
        std::printf("%s\n", job->job_id().c_str());
        std::fflush(stdout);
        return *watch ? Watch(*client, job->job_id()) : 0;
      };
    });
  }
  {
    CLI::App* command = app.add_subcommand("jobs", "List the trainer's jobs");
    add_server(command);
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("jobs", client.status());
        absl::StatusOr<std::vector<v1::Job>> jobs = client->ListJobs();
        if (!jobs.ok()) return Fail("jobs", jobs.status());
        std::printf("%-32s %-24s %-10s %-12s %s\n", "JOB", "NAME", "STATE", "STEP", "MODEL");
        for (const v1::Job& job : *jobs) {
          const std::string model =
              job.model_version() > 0 ? absl::StrFormat("%s@%d", job.model_name(), job.model_version()) : "";
          std::printf("%-32s %-24s %-10s %-12s %s\n", job.job_id().c_str(), job.name().c_str(),
                      StateName(job.state()).c_str(),
                      absl::StrFormat("%d/%d", job.step(), job.total_steps()).c_str(), model.c_str());
        }
        return 0;
      };
    });
  }
  {
    auto job_id = std::make_shared<std::string>();
    CLI::App* command = app.add_subcommand("watch", "Follow a job's events with a progress bar");
    add_server(command);
    command->add_option("job", *job_id, "Job id")->required();
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("watch", client.status());
        return Watch(*client, *job_id);
      };
    });
  }
  {
    auto job_id = std::make_shared<std::string>();
    CLI::App* command = app.add_subcommand("cancel", "Cancel a queued or running job");
    add_server(command);
    command->add_option("job", *job_id, "Job id")->required();
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("cancel", client.status());
        absl::StatusOr<v1::Job> job = client->CancelJob(*job_id);
        if (!job.ok()) return Fail("cancel", job.status());
        std::printf("%s %s\n", job->job_id().c_str(), StateName(job->state()).c_str());
        return 0;
      };
    });
  }
  {
    CLI::App* command = app.add_subcommand("models", "List the registry's models");
    add_server(command);
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("models", client.status());
        absl::StatusOr<std::vector<std::string>> names = client->ListModels();
        if (!names.ok()) return Fail("models", names.status());
        for (const std::string& name : *names) std::printf("%s\n", name.c_str());
        return 0;
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    CLI::App* command = app.add_subcommand("versions", "List a model's versions and aliases");
    add_server(command);
    command->add_option("model", *name, "Model name")->required();
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("versions", client.status());
        absl::StatusOr<v1::ListVersionsResponse> versions = client->ListVersions(*name);
        if (!versions.ok()) return Fail("versions", versions.status());
        std::printf("%-8s %-22s %-34s %s\n", "VERSION", "CREATED", "JOB", "ALIASES");
        for (const v1::ModelVersion& version : versions->versions()) {
          std::string aliases;
          for (const std::string& alias : version.aliases()) aliases += (aliases.empty() ? "" : ",") + alias;
          std::printf("%-8ld %-22s %-34s %s\n", version.version(), version.created_at().c_str(),
                      version.job_id().c_str(), aliases.c_str());
        }
        // What cannot be read is listed too, so it can be repaired (e.g. an alias moved off it).
        for (const v1::RegistryProblem& problem : versions->problems()) {
          if (problem.version() > 0) {
            std::printf("%-8ld DAMAGED %s\n", problem.version(), problem.message().c_str());
          } else {
            std::printf("%-8s DAMAGED %s: %s\n", "-", problem.key().c_str(), problem.message().c_str());
          }
        }
        return 0;
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto alias = std::make_shared<std::string>();
    auto version = std::make_shared<int64_t>(0);
    auto actor = std::make_shared<std::string>(std::getenv("USER") != nullptr ? std::getenv("USER") : "cli");
    CLI::App* command = app.add_subcommand("alias", "Point an alias (e.g. production) at a model version");
    add_server(command);
    command->add_option("model", *name, "Model name")->required();
    command->add_option("alias", *alias, "Alias name")->required();
    command->add_option("version", *version, "Version number")->required()->check(CLI::PositiveNumber);
    command->add_option("--actor", *actor, "Who moves the alias (recorded in the audit log)");
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("alias", client.status());
        absl::StatusOr<int64_t> previous = client->SetAlias(*name, *alias, *version, *actor);
        if (!previous.ok()) return Fail("alias", previous.status());
        std::printf("%s@%s -> %ld (was %ld)\n", name->c_str(), alias->c_str(), *version, *previous);
        return 0;
      };
    });
  }
  {
    auto min_age = std::make_shared<int64_t>(-1);
    auto dry_run = std::make_shared<bool>(false);
    CLI::App* command = app.add_subcommand(
        "gc", "Delete registry payloads that no version references (left by publishes that crashed)");
    add_server(command);
    command->add_option("--min-age-seconds", *min_age,
                        "Keep payloads younger than this (default: the server's, one hour)")
        ->check(CLI::NonNegativeNumber);
    command->add_flag("--dry-run", *dry_run, "Print what would be deleted, delete nothing");
    command->callback([=] {
      *run = [=] {
        absl::StatusOr<TrainerClient> client = Connect(*connection);
        if (!client.ok()) return Fail("gc", client.status());
        absl::StatusOr<v1::CollectGarbageResponse> report =
            client->CollectGarbage(*min_age >= 0 ? std::optional<int64_t>(*min_age) : std::nullopt, *dry_run);
        if (!report.ok()) return Fail("gc", report.status());
        for (const std::string& deleted : report->deleted()) {
          std::printf("%s %s\n", *dry_run ? "would delete" : "deleted", deleted.c_str());
        }
        for (const v1::RegistryProblem& problem : report->problems()) {
          std::printf("skipped %s: %s\n", problem.key().c_str(), problem.message().c_str());
        }
        return 0;
      };
    });
  }
}

}  // namespace promptintern::cli
