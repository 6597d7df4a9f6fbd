// Every name PromptIntern gives a file or a folder on disk, in one place (after LevelDB's
// db/filename.h): a checkpoint, an adapter, a run's output directory, the trainer's job
// directories, an experiment's directory and the registry's storage keys. Code that reads or
// writes one of these takes the name from here; docs/ARCHITECTURE.md has the same layout as a table.
//
// Names only: no I/O, no dependency beyond Abseil's string helpers, so every component may use it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// ---- A checkpoint directory (the Hugging Face layout) -------------------------------------------
inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kWeightsFile[] = "model.safetensors";
// Sharded weights: the index names the shard file of each tensor.
inline constexpr char kWeightsIndexFile[] = "model.safetensors.index.json";
inline constexpr char kSafetensorsExtension[] = ".safetensors";
// Hugging Face `tokenizers` serialization: normalizer, pre-tokenizer, model, decoder, added tokens.
inline constexpr char kHfTokenizerFile[] = "tokenizer.json";
// transformers' settings beside it: add_bos_token / add_eos_token, bos/eos/pad tokens.
inline constexpr char kHfTokenizerConfigFile[] = "tokenizer_config.json";
// transformers' generation settings: eos_token_id (an int or a list: the EOS set).
inline constexpr char kGenerationConfigFile[] = "generation_config.json";
// A serialized SentencePiece ModelProto (Llama 2 and the tokenizers trained here).
inline constexpr char kSentencePieceModelFile[] = "tokenizer.model";
// The task the checkpoint was internalized for (core/task/task_json.h): template, retrieval, metric.
inline constexpr char kTaskFile[] = "task.json";

// ---- A LoRA adapter directory (the PEFT layout) -------------------------------------------------
inline constexpr char kAdapterConfigFile[] = "adapter_config.json";
inline constexpr char kAdapterWeightsFile[] = "adapter_model.safetensors";

// ---- A training run's output directory ----------------------------------------------------------
// The job as it was started (YAML); its presence without a report marks a run that did not finish.
inline constexpr char kJobFile[] = "job.yaml";
inline constexpr char kReportFile[] = "report.json";
// Per-example scores of each final inference mode (core/eval/example_scores.h); report.json names
// each mode's file as "examples_file".
inline constexpr char kExamplesDir[] = "examples";
inline std::string ExamplesFile(absl::string_view mode) { return absl::StrCat(kExamplesDir, "/", mode, ".jsonl"); }
// What a restarted run resumes from: progress, weights and optimizer moments.
inline constexpr char kStateDir[] = "state";
inline constexpr char kProgressFile[] = "progress.json";
inline constexpr char kStateWeightsFile[] = "weights.safetensors";
inline constexpr char kOptimizerFile[] = "optimizer.pt";
// The internalized checkpoint (a checkpoint directory) and, for a LoRA run, its adapter alone.
inline constexpr char kFinalDir[] = "final";
inline constexpr char kAdapterDir[] = "adapter";

// ---- The trainer's data directory: <data_dir>/jobs/<id>/ ----------------------------------------
inline constexpr char kJobsDir[] = "jobs";
inline constexpr char kJobRecordFile[] = "job.json";
inline constexpr char kJobEventsFile[] = "events.jsonl";
// The job's run: a training run's output directory, above.
inline constexpr char kJobRunDir[] = "run";

// ---- An experiment's output directory -----------------------------------------------------------
inline constexpr char kExperimentFile[] = "experiment.json";  // every invocation's settings
inline constexpr char kBudgetsFile[] = "budgets.json";
inline constexpr char kCellsLog[] = "cells.log";
// One training run's output directory per cell, with its cell.json once it finished.
inline constexpr char kCellsDir[] = "cells";
inline constexpr char kCellFile[] = "cell.json";
// The comparison `promptintern experiment report` writes (core/experiment/report.h).
inline constexpr char kExperimentReportFile[] = "report.md";
// Its figures, linked from report.md.
inline constexpr char kExperimentPlotsDir[] = "plots";
inline constexpr char kAccuracyPlot[] = "accuracy.svg";
inline constexpr char kStagesPlot[] = "stages.svg";
inline constexpr char kLossPlot[] = "loss.svg";
inline constexpr char kCostPlot[] = "cost.svg";

// ---- The registry's storage keys (core/registry/storage.h) --------------------------------------
// models/<name>/versions/<version>/manifest.json   a published version
// models/<name>/payloads/<token>/<file>             the files a manifest lists
// models/<name>/payload-claims/<token>.json         a publisher's claim on a payload folder
// models/<name>/keys/<hash>/<generation>.json       idempotency keys
// models/<name>/audit/<sequence>.json               the audit log
// Generations and sequences are zero-padded so that lexical listing order is numeric order.
inline constexpr char kManifestFile[] = "manifest.json";
inline std::string RegistryModelPrefix(absl::string_view name) { return absl::StrCat("models/", name, "/"); }
inline std::string RegistryVersionsPrefix(absl::string_view name) {
  return absl::StrCat(RegistryModelPrefix(name), "versions/");
}
inline std::string RegistryManifestKey(absl::string_view name, int64_t version) {
  return absl::StrCat(RegistryVersionsPrefix(name), version, "/", kManifestFile);
}
inline std::string RegistryPayloadsPrefix(absl::string_view name) {
  return absl::StrCat(RegistryModelPrefix(name), "payloads/");
}
inline std::string RegistryPayloadPrefix(absl::string_view name, absl::string_view token) {
  return absl::StrCat(RegistryPayloadsPrefix(name), token, "/");
}
inline std::string RegistryPayloadClaimKey(absl::string_view name, absl::string_view token) {
  return absl::StrCat(RegistryModelPrefix(name), "payload-claims/", token, ".json");
}
inline std::string RegistryKeyPrefix(absl::string_view name, absl::string_view key_hash) {
  return absl::StrCat(RegistryModelPrefix(name), "keys/", key_hash, "/");
}
inline std::string RegistryKeyGenerationKey(absl::string_view name, absl::string_view key_hash, int64_t generation) {
  return absl::StrFormat("%s%020d.json", RegistryKeyPrefix(name, key_hash), generation);
}
inline std::string RegistryAuditPrefix(absl::string_view name) {
  return absl::StrCat(RegistryModelPrefix(name), "audit/");
}
inline std::string RegistryAuditKey(absl::string_view name, int64_t sequence) {
  return absl::StrFormat("%s%020d.json", RegistryAuditPrefix(name), sequence);
}

}  // namespace promptintern
