#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/commands.h"
#include "core/distributed/process_group.h"
#include "core/jobs/publish_run.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern::cli {

std::string FormatDuration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  if (total >= 3600) return absl::StrFormat("%dh%02dm", total / 3600, total % 3600 / 60);
  if (total >= 60) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  return absl::StrFormat("%ds", total);
}

namespace {

// Progress goes to stderr, so stdout carries only the final table.
void PrintEvent(const PipelineEvent& event) {
  const std::string stage = event.stage < 0 ? std::string("pretrain")
                                            : absl::StrFormat("stage %d/%d", event.stage + 1, event.num_stages);
  switch (event.kind) {
    case PipelineEvent::Kind::kStageStarted:
      std::fprintf(stderr, "[%s] started: keep ratio %.2f, %d examples (%s)\n", stage.c_str(), event.keep_ratio,
                   event.num_examples, event.message.c_str());
      break;
    case PipelineEvent::Kind::kProgress:
      std::fprintf(stderr, "[%s] step %ld/%ld  loss %.4f  lr %.2e  %.0f tokens/s  ETA %s\n", stage.c_str(), event.step,
                   event.total_steps, event.loss, event.learning_rate, event.tokens_per_second,
                   FormatDuration(event.eta_seconds).c_str());
      break;
    case PipelineEvent::Kind::kEvaluation: {
      std::string metrics;
      for (const auto& [name, value] : event.metrics) absl::StrAppendFormat(&metrics, " %s=%.4g", name, value);
      std::fprintf(stderr, "[%s] evaluation%s%s:%s\n", stage.c_str(), event.message.empty() ? "" : " ",
                   event.message.c_str(), metrics.c_str());
      break;
    }
    case PipelineEvent::Kind::kCheckpoint:
      std::fprintf(stderr, "[%s] checkpoint at step %ld %s\n", stage.c_str(), event.step, event.message.c_str());
      break;
    case PipelineEvent::Kind::kCompleted:
      std::fprintf(stderr, "done: final checkpoint in %s\n", event.path.c_str());
      break;
  }
}

}  // namespace

void RegisterTrainCommand(CLI::App& app, std::function<int()>* run) {
  struct Flags {
    std::string config_path;
    std::string output_dir;
    std::string registry_dir;
    std::string publish_name;
    double collective_timeout_seconds = DistributedConfig().collective_timeout_seconds;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "train",
      "Run a PromptIntern job locally (all stages, then evaluation). With WORLD_SIZE > 1 in the environment "
      "(and MASTER_ADDR, MASTER_PORT, RANK) each process is one rank of a data-parallel run");
  command->add_option("--config", flags->config_path, "YAML job file")->required();
  command->add_option("--output", flags->output_dir, "Output directory (overrides output.dir of the job file)");
  command->add_option("--registry-dir", flags->registry_dir,
                      "Publish the final checkpoint to this model registry (rank 0 only)");
  command->add_option("--publish", flags->publish_name, "Model name to publish under (default: the job's name)");
  command
      ->add_option("--collective-timeout", flags->collective_timeout_seconds,
                   "Data-parallel runs: seconds a collective waits for the other ranks before the run fails with "
                   "an error (a rank that died, a network that dropped); it must cover rank 0's evaluations")
      ->capture_default_str();
  command->callback([flags, run] {
    *run = [flags] {
      absl::StatusOr<JobSpec> spec = LoadJobSpec(flags->config_path);
      if (!spec.ok()) {
        std::cerr << "promptintern train: " << spec.status().message() << "\n";
        return 2;
      }
      if (!flags->output_dir.empty()) spec->output_dir = flags->output_dir;
      absl::StatusOr<DistributedConfig> distributed = DistributedConfigFromEnvironment();
      if (distributed.ok()) {
        distributed->collective_timeout_seconds = flags->collective_timeout_seconds;
        if (absl::Status valid = distributed->Validate(); !valid.ok()) distributed = valid;
      }
      if (!distributed.ok()) {
        std::cerr << "promptintern train: " << distributed.status().message() << "\n";
        return 2;
      }
      std::unique_ptr<ProcessGroup> group;
      if (distributed->distributed()) {
        absl::StatusOr<std::unique_ptr<ProcessGroup>> joined = ProcessGroup::Join(*distributed);
        if (!joined.ok()) {
          std::cerr << "promptintern train: " << joined.status().message() << "\n";
          return 1;
        }
        group = std::move(joined).value();
        std::fprintf(stderr, "rank %d of %d joined at %s:%d\n", group->rank(), group->world_size(),
                     distributed->master_addr.c_str(), distributed->master_port);
      }
      const bool leader = group == nullptr || group->rank() == 0;
      PipelineControl control;
      // Every rank sees the same events; one log of them is enough.
      if (leader) control.on_event = PrintEvent;
      control.process_group = group.get();
      // Opened before the run, so a promotion gate can take its reference version from it.
      absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
          flags->registry_dir.empty() || !leader ? absl::StatusOr<std::unique_ptr<ModelRegistry>>(nullptr)
                                      : ModelRegistry::OpenLocal(flags->registry_dir);
      if (registry.ok() && *registry != nullptr) control.open_reference = RegistryReferenceOpener(registry->get());
      absl::StatusOr<PipelineReport> report = RunPipeline(*spec, control);
      if (!report.ok()) {
        std::cerr << "promptintern train: " << report.status().message() << "\n";
        return 1;
      }
      if (!leader) {
        std::fprintf(stderr, "rank %d: training done; rank 0 writes the checkpoint\n", group->rank());
        return 0;
      }
      std::cout << FormatModeTable(*report);
      if (report->promotion) std::cout << "promotion gate: " << report->promotion->reason << "\n";
      if (flags->registry_dir.empty()) return 0;
      const std::string name = flags->publish_name.empty() ? spec->name : flags->publish_name;
      absl::StatusOr<PublishResult> published =
          registry.ok() ? PublishRun(**registry, name, *spec, *report,
                                       absl::StrCat("train:", std::filesystem::absolute(report->output_dir).string()))
                        : absl::StatusOr<PublishResult>(registry.status());
      if (!published.ok()) {
        std::cerr << "promptintern train: publishing: " << published.status().message() << "\n";
        return 1;
      }
      std::fprintf(stderr, "%s %s@%ld\n", published->already_published ? "already published as" : "published",
                   name.c_str(), published->version);
      if (report->promotion) {
        const absl::Status applied =
            ApplyPromotion(**registry, name, published->version, *report->promotion, "promptintern train");
        if (!applied.ok()) {
          std::cerr << "promptintern train: promotion gate: " << applied.message() << "\n";
          return 1;
        }
      }
      return 0;
    };
  });
}

}  // namespace promptintern::cli
