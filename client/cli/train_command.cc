#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "client/cli/commands.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern::cli {
namespace {

std::string FormatDuration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  if (total >= 3600) return absl::StrFormat("%dh%02dm", total / 3600, total % 3600 / 60);
  if (total >= 60) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  return absl::StrFormat("%ds", total);
}

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
  auto config_path = std::make_shared<std::string>();
  auto output_dir = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand("train", "Run a PromptIntern job locally (all stages, then evaluation)");
  command->add_option("--config", *config_path, "YAML job file")->required();
  command->add_option("--output", *output_dir, "Output directory (overrides output.dir of the job file)");
  command->callback([config_path, output_dir, run] {
    *run = [config_path, output_dir] {
      absl::StatusOr<JobSpec> spec = LoadJobSpec(*config_path);
      if (!spec.ok()) {
        std::cerr << "promptintern train: " << spec.status().message() << "\n";
        return 2;
      }
      if (!output_dir->empty()) spec->output_dir = *output_dir;
      absl::StatusOr<PipelineReport> report = RunPipeline(*spec, {PrintEvent, nullptr});
      if (!report.ok()) {
        std::cerr << "promptintern train: " << report.status().message() << "\n";
        return 1;
      }
      std::cout << FormatModeTable(*report);
      return 0;
    };
  });
}

}  // namespace promptintern::cli
