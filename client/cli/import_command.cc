#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "core/jobs/import_checkpoint.h"
#include "core/registry/registry.h"

namespace promptintern::cli {

void RegisterImportCommand(CLI::App& app, std::function<int()>* run) {
  struct Flags {
    std::string model_dir;
    std::string name;
    std::string registry_dir;
    std::string adapter_of;
    ImportOptions options;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* command = app.add_subcommand(
      "import",
      "Publish an existing Hugging Face checkpoint directory as a registry version, after checking that it "
      "loads and runs (to serve it, or to fine-tune from it); with --adapter-of, a PEFT LoRA adapter as an "
      "adapter version of a registered base");
  command->add_option("--model", flags->model_dir,
                      "Checkpoint directory (config.json, safetensors, tokenizer), or with --adapter-of the adapter "
                      "directory (adapter_config.json, adapter_model.safetensors)")
      ->required();
  command->add_option("--adapter-of", flags->adapter_of,
                      "Publish --model as a LoRA adapter of this registered full version (NAME, NAME@VERSION or "
                      "NAME@ALIAS), served by the inference service that serves that base");
  command->add_option("--name", flags->name, "Model name in the registry")->required();
  command->add_option("--registry-dir", flags->registry_dir, "Model registry directory")->required();
  command->add_option("--task", flags->options.task_path,
                      "task.json to serve with (default: the directory's own; without one the query is the prompt)");
  command->add_option("--base-model", flags->options.base_model,
                      "What the manifest names as the base model (default: the directory's path)");
  command->callback([flags, run] {
    *run = [flags] {
      absl::StatusOr<std::unique_ptr<ModelRegistry>> registry = ModelRegistry::OpenLocal(flags->registry_dir);
      if (!registry.ok()) {
        std::cerr << "promptintern import: " << registry.status().message() << "\n";
        return 1;
      }
      absl::StatusOr<ImportResult> imported =
          flags->adapter_of.empty()
              ? ImportCheckpoint(**registry, flags->name, flags->model_dir, flags->options)
              : ImportAdapter(**registry, flags->name, flags->model_dir, flags->adapter_of, flags->options);
      if (!imported.ok()) {
        std::cerr << "promptintern import: " << imported.status().message() << "\n";
        return 1;
      }
      const char* task = imported->has_task ? "with its task" : "no task (the query is the prompt)";
      if (imported->adapter_of.empty()) {
        std::fprintf(stderr, "checked: %s, %ld parameters, tokenizer %s; %s\n", imported->model_type.c_str(),
                     imported->parameters, imported->tokenizer.c_str(), task);
      } else {
        std::fprintf(stderr, "checked: a LoRA adapter of %s (%s), %ld adapter parameters; %s\n",
                     imported->adapter_of.c_str(), imported->model_type.c_str(), imported->parameters, task);
      }
      std::fprintf(stderr, "published: %s\n", absl::StrJoin(imported->files, " ").c_str());
      if (!imported->left_out.empty()) {
        std::fprintf(stderr, "left out: %s\n", absl::StrJoin(imported->left_out, " ").c_str());
      }
      std::printf("%s@%ld\n", flags->name.c_str(), imported->published.version);
      return 0;
    };
  });
}

}  // namespace promptintern::cli
