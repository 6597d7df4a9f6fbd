// The PromptIntern run: from a validated JobSpec to an internalized checkpoint.
//
//   task -> tokenizer/model (Hugging Face base, or trained from scratch) -> for each stage s:
//     compress the template to r_s (scorer: the model as it stands at the stage's start),
//     render every training query with k_s retrieved examples, fine-tune its share of the steps,
//     evaluate on validation, checkpoint
//   -> final checkpoint + task.json (everything needed to render the full prompt again), with
//      LoRA merged into it (and the adapter alone in <output>/adapter, in PEFT's layout)
//   -> comparison of inference modes (query-only, full prompt, compressed prompt), written to
//      report.json with the budget spent (steps, training tokens) and, per mode, every validation
//      example's scores in examples/<mode>.jsonl (for intervals and paired tests across runs).
//
// Everything a restarted run needs sits in <output>/state: weights, optimizer moments, the global
// step and each stage's compressed template. Training batches and dropout are functions of (seed,
// step) alone, so a run killed anywhere and restarted ends with the same weights as one that was not.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/eval/inference_eval.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/run_report.h"

namespace promptintern {

struct PipelineEvent {
  enum class Kind { kStageStarted, kProgress, kEvaluation, kCheckpoint, kCompleted };
  Kind kind = Kind::kProgress;
  int stage = 0;  // -1 while pretraining
  int num_stages = 0;
  int64_t step = 0;  // global optimizer steps done
  int64_t total_steps = 0;
  double loss = 0.0;
  double learning_rate = 0.0;
  double tokens_per_second = 0.0;
  double eta_seconds = 0.0;
  double keep_ratio = 0.0;
  int num_examples = 0;
  std::map<std::string, double> metrics;
  std::string path;
  std::string message;
};

class ProcessGroup;

struct PipelineControl {
  std::function<void(const PipelineEvent&)> on_event;
  // Polled between steps; when it returns true the run checkpoints and ends with CANCELLED.
  // Data-parallel: any rank asking stops them all.
  std::function<bool()> should_stop;
  // Data-parallel run (null: one process). Every rank runs the same job with its group and trains
  // on its slice of each global batch (training.batch_size must divide by the world size). Rank 0
  // alone reads and writes the output directory and evaluates; it hands the others its tokenizer,
  // weights, optimizer state and compressed templates, so they need no shared storage. The job's
  // inputs (task files, base model, pretraining corpus) must be readable on every rank.
  ProcessGroup* process_group = nullptr;
  // A local checkpoint directory for a registry reference ("NAME@VERSION" or "NAME@ALIAS"), for a
  // job whose promote.reference names one. Null: such a job fails with FAILED_PRECONDITION.
  std::function<absl::StatusOr<std::string>(const std::string& reference)> open_reference;
};

absl::StatusOr<PipelineReport> RunPipeline(const JobSpec& spec, const PipelineControl& control = {});

}  // namespace promptintern
