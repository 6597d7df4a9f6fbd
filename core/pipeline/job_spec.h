// The YAML job file of a PromptIntern run, parsed and validated before any work starts. Every
// error names the field (as a dotted path such as "training.batch_size") and what is wrong.
// Unknown fields are errors too, so a typo never silently falls back to a default.
// Every field is declared once, in core/pipeline/job_schema.h: its type, bounds, default (the
// member initializers below) and documentation; examples/jobs/README.md's field tables are
// generated from it.
//
// Relative paths in the file are resolved against `base_dir` (the job file's directory for the
// CLI), and files that must exist are checked while parsing.
//
// Nothing a job file says can make the run read what it should not or ask for what the machine
// cannot give:
//   * every path is resolved (symlinks and "..") to the file actually read, and with allowed
//     roots (the trainer service) must lie under one of them;
//   * files named by the job must be regular files (no FIFO, device or socket), are read with a
//     size limit and a timeout, and text files must be valid UTF-8;
//   * threads are bounded by the cores, sizes by the memory (MachineLimits), and step counts,
//     lengths and list sizes by fixed sane limits;
// each refusal is INVALID_ARGUMENT naming the field, like every other error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model/architecture.h"
#include "core/schedule/stage_schedule.h"
#include "core/task/task_spec.h"
#include "core/util/machine.h"

namespace promptintern {

struct ScratchModelSpec {
  int64_t hidden_size = 128;
  int64_t intermediate_size = 344;
  int64_t num_layers = 4;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;
  int64_t context_length = 2048;
  int vocab_size = 1024;          // of the SentencePiece BPE tokenizer trained on the task's text
  std::string pretrain_corpus;    // optional text file (one document per line)
  int64_t pretrain_steps = 0;
};

struct ModelSpec {
  std::string base;               // Hugging Face checkpoint directory; empty when from scratch
  bool from_scratch = false;      // exactly one of base / scratch is given
  ScratchModelSpec scratch;
  std::string finetune = "full";  // "full" or "lora"
  int lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_target_modules = ProjectionShortNames();  // every projection
};

struct CompressionSpec {
  std::string method = "self_information";  // "self_information", "random" or "none"
  // Whose surprisal: "model" (the model being trained, as it stands at the start of each stage)
  // or the path of a Hugging Face checkpoint with the same tokenizer.
  std::string scorer = "model";
};

struct RetrievalSpec {
  std::string method = "bm25";
  double k1 = 1.5;
  double b = 0.75;
};

struct TrainingSpec {
  int64_t steps = 400;
  int64_t batch_size = 8;
  int64_t gradient_accumulation = 1;
  int64_t max_length = 2048;         // tokens per training sequence
  double learning_rate = 1e-3;
  int64_t warmup_steps = 20;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double max_grad_norm = 1.0;
  int64_t checkpoint_every = 0;      // steps between mid-stage checkpoints; 0 = stage ends only
};

struct EvalSpec {
  int64_t limit = 100;               // validation examples for the final evaluation; 0 = all
  int64_t stage_limit = 32;          // validation examples evaluated at the end of each stage
  int64_t max_new_tokens = 64;
  // Inference modes compared at the end: "query_only", "full_prompt", "compressed".
  std::vector<std::string> modes = {"query_only", "full_prompt"};
  double compressed_keep_ratio = 0.3;
  double input_price_per_million = 0.5;
  double output_price_per_million = 1.5;
};

// promote: the gate between publishing a version and moving an alias onto it. After training the
// query-only answers of the internalized model and the full-prompt answers of the reference are
// scored on the same validation examples (eval.limit); the alias moves only when the reference's
// score minus the candidate's is at most max_drop (core/pipeline/promotion.h).
struct PromoteSpec {
  bool enabled = false;  // the section was given
  std::string alias;     // required
  // "full_prompt" (the internalized model itself with the full prompt), "base" (model.base as it
  // was before fine-tuning) or a registry version "NAME@VERSION" / "NAME@ALIAS".
  std::string reference = "full_prompt";
  std::string metric = "exact_match";  // "exact_match", "bleu" (0..100) or the task kind's metric (a fraction)
  // In the metric's units; negative demands that the query-only model beat the reference.
  double max_drop = 0.0;
};

struct JobSpec {
  std::string name = "promptintern-job";
  uint64_t seed = 1;
  int threads = 0;                   // compute threads; 0 = all cores
  ModelSpec model;
  TaskSpec task;
  CompressionSpec compression;
  RetrievalSpec retrieval;
  ScheduleSpec schedule;
  TrainingSpec training;
  EvalSpec eval;
  PromoteSpec promote;
  std::string output_dir = "runs/job";
};

struct JobSpecOptions {
  MachineLimits machine = MachineLimits::Detect();
  // Non-empty: every path the job names (model.base, pretraining corpus, task files, template
  // files, compression.scorer) must resolve, after following symlinks and "..", to one of these
  // directories or beneath it; output.dir is then left unchecked, for the caller (the trainer
  // service) chooses the run directory itself. Empty: any path (the CLI runs the user's own job
  // with the user's own rights).
  std::vector<std::string> allowed_roots;
  // Largest task data file or pretraining corpus; 0 = an eighth of machine.memory_bytes.
  uint64_t max_input_file_bytes = 0;
  // Reading one file named by the job (template text, checked at parse time) may take this long.
  absl::Duration read_timeout = absl::Seconds(10);
};

// Parses and validates a job file's text. `base_dir` is made absolute (empty = the current
// directory), so every path in the result is absolute, output.dir's default "runs/job"
// included. Every key is optional; a bare "section:" means that section's defaults, while a
// bare scalar ("steps:") is an error. Neither model.base nor model.scratch means from scratch
// with the default size. The inactive task source's section (jsonl under source: synthetic,
// and vice versa) is type-checked but its files need not exist; compression.scorer must be a
// checkpoint only when method is self_information. Errors are InvalidArgument, name the
// field and end with " (line L, column C)" where the field is in the file.
// The text must be valid UTF-8.
absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& base_dir,
                                     const JobSpecOptions& options = {});
// Reads `path` and parses it with base_dir = the file's directory; errors are prefixed with
// `path`. A missing file is NotFound.
absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path, const JobSpecOptions& options = {});

// The spec as YAML again (canonical: every field, paths as resolved); parses back to an equal spec.
// Three deliberate omissions keep that true: unset paths (an empty path is not valid input),
// the explicit schedule lists under other kinds (they are rejected there), and a builtin
// template name once the pipeline has filled in its text (the text is written instead).
std::string JobSpecToYaml(const JobSpec& spec);

}  // namespace promptintern
