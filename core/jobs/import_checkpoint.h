// `promptintern import`: an existing Hugging Face checkpoint directory published as a registry
// version, so that a team can serve (or fine-tune from) the model it already has.
//
// Before anything is published the checkpoint is loaded the way the inference service will load
// it (LoadCheckpointForServing: config.json parses into a supported architecture, every tensor is
// there with the shape config.json implies, the tokenizer loads and belongs to the model) and run
// once on a short prompt, which must give finite logits. Any problem is refused with the file or
// field named, and nothing is published.
//
// What is published is the checkpoint and nothing else: config.json, the weights
// (model.safetensors, or the index and the shards it names), the tokenizer's files and task.json.
// Other files of the directory (README.md, original/, *.bin, ...) are left out and listed, and
// symbolic links (a Hugging Face cache snapshot is made of them) are published as the files they
// point to.
//
// The task: `task_path` (a task.json as a PromptIntern run writes it), else the directory's own
// task.json, else QueryAsPromptTask: the version then serves each query itself as the prompt, and
// reports no savings (every prompt mode is the same prompt).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/registry/registry.h"

namespace promptintern {

struct ImportOptions {
  std::string task_path;   // "" = the directory's task.json if it has one, else none
  std::string base_model;  // the manifest's base_model; "" = the directory's absolute path
};

struct ImportResult {
  PublishResult published;
  std::vector<std::string> files;     // the checkpoint's files, as published (task.json included)
  std::vector<std::string> left_out;  // entries of the directory that are not part of the checkpoint
  std::string model_type;
  int64_t parameters = 0;
  std::string tokenizer;              // its main file (tokenizer.json or tokenizer.model)
  bool has_task = false;              // false: published with QueryAsPromptTask
  std::string task_path;              // the task file published when has_task
  // ImportAdapter only: the base version it was checked against ("name@version"); `model_type`
  // and `tokenizer` are the base's, `parameters` the adapter's own.
  std::string adapter_of;
};

absl::StatusOr<ImportResult> ImportCheckpoint(ModelRegistry& registry, const std::string& name,
                                              const std::string& directory, const ImportOptions& options = {});

// `promptintern import --adapter-of BASE`: a PEFT LoRA adapter directory (adapter_config.json and
// adapter_model.safetensors, as a LoRA job writes to <output>/adapter or Hugging Face PEFT saves)
// published as an adapter version of the registered full version `base` ("name", "name@3" or
// "name@alias", resolved once: the version records the exact base it was checked against). The
// inference service serving that base then serves this version too, picked per request by name.
//
// Checked before anything is published: `base` exists and is a full checkpoint, not an adapter
// itself; the adapter reads against the base's weights (every tensor present, of the base's shapes
// and the configured rank, nothing extra) and holds only finite values. The task is found as for
// ImportCheckpoint (`task_path`, else the directory's task.json, else the query is the prompt);
// `base_model` is ignored: the manifest names the base version.
absl::StatusOr<ImportResult> ImportAdapter(ModelRegistry& registry, const std::string& name,
                                           const std::string& directory, const std::string& base,
                                           const ImportOptions& options = {});

}  // namespace promptintern
