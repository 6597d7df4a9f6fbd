#include "core/pipeline/pipeline.h"

#include <torch/torch.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/checkpoint/checkpoint.h"
#include "core/compress/self_information.h"
#include "core/compress/template_compression.h"
#include "core/distributed/process_group.h"
#include "core/eval/example_scores.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/pipeline/run_report.h"
#include "core/pipeline/task_builder.h"
#include "core/serve/engine.h"
#include "core/task/prompt_builder.h"
#include "core/task/task_json.h"
#include "core/task/task_kind.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/model_trainer.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/json_fields.h"
#include "core/util/random.h"
#include "core/util/status_macros.h"
#include "core/util/threads.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

// An evaluation event's figures: exact match, BLEU, input tokens, and the task's own metric if any.
std::map<std::string, double> EvaluationMetrics(const ModeReport& report) {
  std::map<std::string, double> metrics = {
      {"exact_match", report.exact_match}, {"bleu", report.bleu}, {"input_tokens", report.mean_input_tokens}};
  if (!report.task_metric.empty()) metrics[report.task_metric] = report.task_score;
  return metrics;
}

using Clock = std::chrono::steady_clock;

constexpr char kLoraPrefix[] = "lora:";
constexpr int kProgressEvery = 10;

// Weights plus LoRA adapters, in one file, under names that cannot collide.
std::map<std::string, at::Tensor> TrainableState(DecoderModel& model) {
  std::map<std::string, at::Tensor> state;
  for (auto& [name, weight] : model.NamedWeights()) state.emplace(name, weight);
  for (auto& [path, projection] : model.NamedProjections()) {
    if (!projection->has_lora()) continue;
    state.emplace(absl::StrCat(kLoraPrefix, path, ".lora_A"), projection->lora_a);
    state.emplace(absl::StrCat(kLoraPrefix, path, ".lora_B"), projection->lora_b);
  }
  return state;
}

absl::Status RestoreTrainableState(DecoderModel& model, const std::string& path) {
  ASSIGN_OR_RETURN(auto saved, ReadSafetensorsAsFloat(path));
  auto current = TrainableState(model);
  if (saved.size() != current.size()) {
    return absl::DataLossError(absl::StrCat(path, " holds ", saved.size(), " tensors, the model has ", current.size()));
  }
  for (const auto& [name, tensor] : current) {
    const auto found = saved.find(name);
    if (found == saved.end() || found->second.sizes() != tensor.sizes()) {
      return absl::DataLossError(absl::StrCat(path, ": tensor '", name, "' is missing or misshapen"));
    }
  }
  return CallTorchVoid("restoring training state", [&] {
    at::NoGradGuard no_grad;
    for (auto& [name, tensor] : current) tensor.copy_(saved.at(name));
  });
}

LoraConfig LoraConfigOf(const ModelSpec& spec) {
  LoraConfig config;
  config.rank = spec.lora_rank;
  config.alpha = spec.lora_alpha;
  config.dropout = spec.lora_dropout;
  config.target_modules = spec.lora_target_modules;
  return config;
}

// Example index for slot `slot` of global step `step`: epochs of seeded permutations, so every
// example is seen once per epoch and the order depends on nothing but (seed, step).
class BatchSampler {
 public:
  BatchSampler(size_t size, uint64_t seed) : size_(size), seed_(seed) {}
  size_t Index(int64_t position) {
    const int64_t epoch = position / static_cast<int64_t>(size_);
    if (epoch != cached_epoch_) {
      permutation_.resize(size_);
      for (size_t i = 0; i < size_; ++i) permutation_[i] = i;
      SplitMix64 random(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
      for (size_t i = size_ - 1; i > 0; --i) std::swap(permutation_[i], permutation_[random.UniformBelow(i + 1)]);
      cached_epoch_ = epoch;
    }
    return permutation_[position % static_cast<int64_t>(size_)];
  }

 private:
  size_t size_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<size_t> permutation_;
};

class Pipeline {
 public:
  Pipeline(const JobSpec& spec, const PipelineControl& control)
      : spec_(spec), control_(control), group_(control.process_group) {}
  absl::StatusOr<PipelineReport> Run();

 private:
  void Emit(PipelineEvent event) {
    event.total_steps = total_steps_;
    event.num_stages = static_cast<int>(stages_.size());
    if (control_.on_event) control_.on_event(event);
  }
  std::string StatePath(const char* file) const { return JoinPath(JoinPath(spec_.output_dir, kStateDir), file); }
  int rank() const { return group_ != nullptr ? group_->rank() : 0; }
  int ranks() const { return group_ != nullptr ? group_->world_size() : 1; }
  // Rank 0 of a data-parallel run, or the only process: the one that owns the output directory.
  bool leader() const { return rank() == 0; }
  absl::Status PrepareModel();
  absl::Status PrepareTokenizer();
  absl::Status ResumeFromState();
  absl::Status TakeStateFromLeader();
  absl::Status SaveState();
  int StageOf(int64_t global_step) const;
  absl::StatusOr<std::string> StageTemplate(int stage);
  absl::StatusOr<TrainingExample> MakeExample(const std::string& prompt, const std::string& completion) const;
  absl::StatusOr<std::vector<TrainingBatch>> MakeStepBatches(int64_t global_step);
  // With `interruptible`, a stop request ends the evaluation with CANCELLED (only where no other
  // rank waits for this one).
  absl::StatusOr<ModeReport> Evaluate(const std::string& mode, const std::string& template_text, int num_examples,
                                      int64_t limit, bool interruptible) {
    return Evaluate(*model_, *tokenizer_, mode, template_text, num_examples, limit, interruptible);
  }
  // The same with another model and its tokenizer (a promotion gate's reference).
  absl::StatusOr<ModeReport> Evaluate(const DecoderModel& model, const Tokenizer& tokenizer, const std::string& mode,
                                      const std::string& template_text, int num_examples, int64_t limit,
                                      bool interruptible);
  // promote: the query-only report of the final model against the reference's full-prompt one.
  absl::StatusOr<PromotionCheck> CheckPromotion(const PipelineReport& report, const std::string& full_template,
                                                int full_examples);
  absl::Status WriteExampleScores(const ModeReport& mode_report);
  absl::Status WriteFinalCheckpoint(PipelineReport& report);

  const JobSpec& spec_;
  PipelineControl control_;
  ProcessGroup* group_;
  Task task_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<DecoderModel> scorer_;  // when compression uses another checkpoint
  std::unique_ptr<ModelTrainer> trainer_;
  std::unique_ptr<PromptBuilder> prompts_;
  std::unique_ptr<TemplateCompressor> compressor_;
  std::vector<Stage> stages_;
  std::string compressed_template_;  // of the final model, as stored in task.json
  const TaskMetric* task_metric_ = nullptr;  // the task kind's own metric, if it has one
  std::vector<std::string> pretraining_lines_;
  int64_t total_steps_ = 0;
  int completion_eos_ = -1;
  RunProgress progress_;
  std::unique_ptr<BatchSampler> train_sampler_;
  std::unique_ptr<BatchSampler> pretrain_sampler_;
};

// A from-scratch tokenizer is trained once, by rank 0, and kept in the output directory so that a
// resumed run reads the same vocabulary.
absl::Status Pipeline::PrepareTokenizer() {
  if (leader()) {
    if (!TokenizerFileIn(spec_.output_dir).empty()) {
      ASSIGN_OR_RETURN(tokenizer_, Tokenizer::LoadFromDirectory(spec_.output_dir));
    } else {
      BpeTrainingOptions options;
      options.vocab_size = spec_.model.scratch.vocab_size;
      ASSIGN_OR_RETURN(tokenizer_, TrainBpeTokenizer(TokenizerCorpus(task_, pretraining_lines_), options));
      RETURN_IF_ERROR(tokenizer_->Save(spec_.output_dir));
    }
  }
  if (group_ == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string bytes,
                   group_->BroadcastString(leader() ? tokenizer_->Serialize() : std::string(), 0, "the tokenizer"));
  if (!leader()) {
    ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Deserialize(bytes, "the tokenizer from rank 0"));
  }
  return absl::OkStatus();
}

absl::Status Pipeline::PrepareModel() {
  const ModelSpec& model_spec = spec_.model;
  if (!model_spec.from_scratch) {
    ASSIGN_OR_RETURN(Checkpoint base, LoadCheckpoint(model_spec.base));
    model_ = std::move(base.model);
    tokenizer_ = std::move(base.tokenizer);
  } else {
    RETURN_IF_ERROR(PrepareTokenizer());
    ModelConfig config;
    config.hidden_size = model_spec.scratch.hidden_size;
    config.intermediate_size = model_spec.scratch.intermediate_size;
    config.num_hidden_layers = model_spec.scratch.num_layers;
    config.num_attention_heads = model_spec.scratch.num_heads;
    config.num_key_value_heads = model_spec.scratch.num_kv_heads;
    config.max_position_embeddings = model_spec.scratch.context_length;
    config.vocab_size = tokenizer_->vocab_size();
    config.bos_token_id = tokenizer_->bos_id();
    config.eos_token_ids = {tokenizer_->eos_id()};
    config.tie_word_embeddings = true;
    RETURN_IF_ERROR(MatchTokenizer(*tokenizer_, &config));
    ASSIGN_OR_RETURN(model_, DecoderModel::Create(config));
    RETURN_IF_ERROR(model_->InitializeRandom(spec_.seed));
  }
  if (spec_.training.max_length > model_->config().max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("training.max_length ", spec_.training.max_length,
                                                   " exceeds the model's context (max_position_embeddings ",
                                                   model_->config().max_position_embeddings, ")"));
  }
  // What every completion ends with: the tokenizer's primary EOS (what Hugging Face fine-tuning
  // appends), or config.json's where the tokenizer names none. Generation stops at either
  // (LoadCheckpoint put the tokenizer's EOS set into the model's).
  completion_eos_ = tokenizer_->eos_id() >= 0 ? tokenizer_->eos_id()
                                              : static_cast<int>(model_->config().eos_token_ids.front());
  const bool lora = model_spec.finetune == "lora";
  if (lora) RETURN_IF_ERROR(AttachLora(*model_, LoraConfigOf(model_spec), spec_.seed));
  OptimizerConfig optimizer;
  optimizer.schedule = {spec_.training.learning_rate, spec_.training.warmup_steps, total_steps_,
                        spec_.training.min_lr_ratio};
  optimizer.weight_decay = spec_.training.weight_decay;
  optimizer.beta1 = spec_.training.beta1;
  optimizer.beta2 = spec_.training.beta2;
  optimizer.max_grad_norm = spec_.training.max_grad_norm;
  ASSIGN_OR_RETURN(trainer_, ModelTrainer::Create(model_.get(), optimizer, lora));

  if (spec_.compression.method == "self_information" && spec_.compression.scorer != "model") {
    ASSIGN_OR_RETURN(scorer_, LoadModel(spec_.compression.scorer));
    ModelConfig scorer_config = scorer_->config();
    if (absl::Status matched = MatchTokenizer(*tokenizer_, &scorer_config); !matched.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("compression.scorer ", spec_.compression.scorer, ": ", matched.message()));
    }
  }
  const DecoderModel& scorer = scorer_ != nullptr ? *scorer_ : *model_;
  ASSIGN_OR_RETURN(compressor_, MakeTemplateCompressor(spec_.compression.method, spec_.seed,
                                                       ModelSurprisal(scorer, tokenizer_->prompt_prefix())));
  return absl::OkStatus();
}

absl::Status Pipeline::SaveState() {
  RETURN_IF_ERROR(MakeDirectories(JoinPath(spec_.output_dir, kStateDir)));
  RETURN_IF_ERROR(WriteTensors(StatePath(kStateWeightsFile), TrainableState(*model_), DType::kF32, {}));
  RETURN_IF_ERROR(trainer_->SaveState(StatePath(kOptimizerFile)));
  // Written last: a crash before this line leaves the previous, consistent progress in place.
  return WriteFileAtomic(StatePath(kProgressFile), RunProgressToText(progress_));
}

absl::Status Pipeline::ResumeFromState() {
  if (!leader() || !PathExists(StatePath(kProgressFile))) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string text, ReadFile(StatePath(kProgressFile)));
  ASSIGN_OR_RETURN(progress_, RunProgressFromText(text, StatePath(kProgressFile)));
  RETURN_IF_ERROR(RestoreTrainableState(*model_, StatePath(kStateWeightsFile)));
  RETURN_IF_ERROR(trainer_->LoadState(StatePath(kOptimizerFile)));
  Emit({.kind = PipelineEvent::Kind::kCheckpoint, .stage = StageOf(progress_.global_step),
        .step = progress_.global_step, .path = StatePath(kProgressFile),
        .message = absl::StrCat("resumed at step ", progress_.global_step)});
  return absl::OkStatus();
}

// Whatever rank 0 starts from (fresh or resumed), every rank starts from exactly the same.
absl::Status Pipeline::TakeStateFromLeader() {
  ASSIGN_OR_RETURN(std::string progress,
                   group_->BroadcastString(leader() ? RunProgressToText(progress_) : std::string(), 0, "run progress"));
  if (!leader()) {
    ASSIGN_OR_RETURN(progress_, RunProgressFromText(progress, "run progress from rank 0"));
  }
  std::vector<at::Tensor> weights;
  for (auto& [name, tensor] : TrainableState(*model_)) weights.push_back(tensor);
  RETURN_IF_ERROR(group_->Broadcast(weights, 0, "the weights"));
  std::string optimizer;
  if (leader()) {
    ASSIGN_OR_RETURN(optimizer, trainer_->SerializeState());
  }
  ASSIGN_OR_RETURN(optimizer, group_->BroadcastString(optimizer, 0, "the optimizer state"));
  if (!leader()) RETURN_IF_ERROR(trainer_->RestoreState(optimizer, "the optimizer state from rank 0"));
  trainer_->ShareGradientsWith(group_);
  return absl::OkStatus();
}

int Pipeline::StageOf(int64_t global_step) const {
  int64_t end = spec_.model.scratch.pretrain_steps * spec_.model.from_scratch;
  if (global_step < end) return -1;
  for (const Stage& stage : stages_) {
    end += stage.steps;
    if (global_step < end) return stage.index;
  }
  return static_cast<int>(stages_.size()) - 1;
}

absl::StatusOr<std::string> Pipeline::StageTemplate(int stage) {
  const auto found = progress_.stage_templates.find(stage);
  if (found != progress_.stage_templates.end()) return found->second;
  // The scorer is the model as it stands, so the compression is computed once, by rank 0: ranks on
  // different hardware could otherwise break a tie differently and train on different prompts.
  std::string text;
  if (leader()) {
    c10::InferenceMode inference_mode;
    ASSIGN_OR_RETURN(CompressedTemplate compressed,
                     CompressTemplate(*compressor_, *tokenizer_, TemplateText(task_), stages_[stage].keep_ratio));
    text = std::move(compressed.text);
  }
  if (group_ != nullptr) {
    ASSIGN_OR_RETURN(text, group_->BroadcastString(text, 0, absl::StrCat("the stage ", stage, " template")));
  }
  progress_.stage_templates[stage] = text;
  return text;
}

absl::StatusOr<TrainingExample> Pipeline::MakeExample(const std::string& prompt, const std::string& completion) const {
  TrainingExample example;
  ASSIGN_OR_RETURN(example.prompt_ids, tokenizer_->EncodePrompt(prompt));
  ASSIGN_OR_RETURN(example.completion_ids, tokenizer_->Encode(completion));
  example.completion_ids.push_back(completion_eos_);
  example.kept_prefix = static_cast<int>(tokenizer_->prompt_prefix().size());
  return example;
}

absl::StatusOr<std::vector<TrainingBatch>> Pipeline::MakeStepBatches(int64_t global_step) {
  const int stage = StageOf(global_step);
  const int64_t per_batch = spec_.training.batch_size;
  const int64_t micro_batches = spec_.training.gradient_accumulation;
  // This rank's slots of each global micro-batch.
  const int64_t per_rank = per_batch / ranks();
  const int64_t first_slot = rank() * per_rank;
  std::string template_text;
  if (stage >= 0) {
    ASSIGN_OR_RETURN(template_text, StageTemplate(stage));
  }
  std::vector<TrainingBatch> batches;
  for (int64_t micro = 0; micro < micro_batches; ++micro) {
    std::vector<TrainingExample> examples;
    for (int64_t slot = first_slot; slot < first_slot + per_rank; ++slot) {
      const int64_t position = (global_step * micro_batches + micro) * per_batch + slot;
      if (stage < 0) {
        const std::string& line = pretraining_lines_[pretrain_sampler_->Index(position)];
        ASSIGN_OR_RETURN(TrainingExample example, MakeExample("", line));
        examples.push_back(std::move(example));
        continue;
      }
      const Example& pair = task_.train[train_sampler_->Index(position)];
      const std::string prompt = prompts_->Render(template_text, stages_[stage].num_examples, pair.query);
      ASSIGN_OR_RETURN(TrainingExample example, MakeExample(prompt, RenderCompletion(pair.answer)));
      examples.push_back(std::move(example));
    }
    ASSIGN_OR_RETURN(TrainingBatch batch, CollateBatch(examples, std::max(0, tokenizer_->pad_id()),
                                                       spec_.training.max_length));
    batches.push_back(std::move(batch));
  }
  return batches;
}

absl::StatusOr<ModeReport> Pipeline::Evaluate(const DecoderModel& model, const Tokenizer& tokenizer,
                                              const std::string& mode, const std::string& template_text,
                                              int num_examples, int64_t limit, bool interruptible) {
  std::vector<EvalItem> items;
  for (const Example& example : task_.validation) {
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) break;
    items.push_back({prompts_->Render(template_text, num_examples, example.query), example.answer});
  }
  EvalOptions options;
  options.max_new_tokens = static_cast<int>(spec_.eval.max_new_tokens);
  options.stop_strings = {task_.format.example_separator};
  options.prices = {spec_.eval.input_price_per_million, spec_.eval.output_price_per_million};
  options.task_metric = task_metric_;
  if (interruptible) options.should_stop = control_.should_stop;
  // One request at a time, as the latency figures promise; the pool holds one full context.
  EngineOptions engine_options;
  engine_options.max_batch_size = 1;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Start(model, engine_options));
  return EvaluatePrompts(*engine, tokenizer, items, options, mode);
}

absl::StatusOr<PromotionCheck> Pipeline::CheckPromotion(const PipelineReport& report, const std::string& full_template,
                                                        int full_examples) {
  const PromoteSpec& promote = spec_.promote;
  // The modes already evaluated are reused: the same examples, the same engine, the same answers.
  const auto evaluated = [&](const char* mode) -> const ModeReport* {
    for (const ModeReport& done : report.modes) {
      if (done.mode == mode) return &done;
    }
    return nullptr;
  };
  std::optional<ModeReport> candidate_storage;
  const ModeReport* candidate = evaluated("query_only");
  if (candidate == nullptr) {
    ASSIGN_OR_RETURN(candidate_storage, Evaluate("query_only", "", 0, spec_.eval.limit, /*interruptible=*/true));
    candidate = &*candidate_storage;
  }
  std::optional<ModeReport> reference_storage;
  const ModeReport* reference = nullptr;
  if (promote.reference == "full_prompt") {
    reference = evaluated("full_prompt");
    if (reference == nullptr) {
      ASSIGN_OR_RETURN(reference_storage, Evaluate("full_prompt", full_template, full_examples, spec_.eval.limit,
                                                   /*interruptible=*/true));
    }
  } else {
    // The base as it was before fine-tuning, or a registered version: loaded for the gate alone.
    std::string directory = spec_.model.base;
    if (promote.reference != "base") {
      if (!control_.open_reference) {
        return absl::FailedPreconditionError(absl::StrCat("promote.reference \"", promote.reference,
                                                          "\" names a registry version, and this run has no registry"));
      }
      absl::StatusOr<std::string> opened = control_.open_reference(promote.reference);
      if (!opened.ok()) {
        return absl::Status(opened.status().code(),
                            absl::StrCat("promote.reference \"", promote.reference, "\": ", opened.status().message()));
      }
      directory = *opened;
    }
    ASSIGN_OR_RETURN(Checkpoint checkpoint, LoadCheckpoint(directory));
    ASSIGN_OR_RETURN(reference_storage, Evaluate(*checkpoint.model, *checkpoint.tokenizer, "reference", full_template,
                                                 full_examples, spec_.eval.limit, /*interruptible=*/true));
  }
  if (reference == nullptr) reference = &*reference_storage;
  return DecidePromotion(promote, *candidate, *reference);
}

// Each validation example's scores in this mode, for intervals and paired tests across runs.
absl::Status Pipeline::WriteExampleScores(const ModeReport& mode_report) {
  std::vector<std::string> references;
  for (size_t i = 0; i < mode_report.predictions.size(); ++i) references.push_back(task_.validation[i].answer);
  ASSIGN_OR_RETURN(std::vector<ExampleScore> scores, ScoreExamples(mode_report.predictions, references, task_metric_));
  const std::string path = JoinPath(spec_.output_dir, ExamplesFile(mode_report.mode));
  RETURN_IF_ERROR(MakeDirectories(JoinPath(spec_.output_dir, kExamplesDir)));
  return WriteFileAtomic(path, ExampleScoresToJsonl(scores));
}

absl::Status Pipeline::WriteFinalCheckpoint(PipelineReport& report) {
  report.final_model_dir = JoinPath(spec_.output_dir, kFinalDir);
  if (spec_.model.finetune == "lora") {
    // The adapter alone too, for Hugging Face PEFT on the base.
    RETURN_IF_ERROR(SaveLoraAdapter(*model_, LoraConfigOf(spec_.model),
                                    spec_.model.from_scratch ? "scratch" : spec_.model.base,
                                    JoinPath(spec_.output_dir, kAdapterDir)));
  }
  RETURN_IF_ERROR(MergeLora(*model_));
  SaveOptions options;
  options.metadata = {{"promptintern_job", spec_.name}};
  RETURN_IF_ERROR(SaveModel(*model_, tokenizer_.get(), report.final_model_dir, options));
  ServedTask served;
  served.task = task_;
  served.task.train.clear();
  served.task.validation.clear();
  served.full_prompt_examples = stages_.front().num_examples;
  served.retrieval = {spec_.retrieval.k1, spec_.retrieval.b};
  served.compression_method = spec_.compression.method;
  served.compressed_keep_ratio = spec_.eval.compressed_keep_ratio;
  {
    // Compressed once, under the final model: the final evaluation and the server's compressed
    // mode use this same text.
    c10::InferenceMode inference_mode;
    ASSIGN_OR_RETURN(CompressedTemplate compressed, CompressTemplate(*compressor_, *tokenizer_, TemplateText(task_),
                                                                     spec_.eval.compressed_keep_ratio));
    served.compressed_template = compressed.text;
  }
  compressed_template_ = served.compressed_template;
  return WriteFileAtomic(JoinPath(report.final_model_dir, kTaskFile), ServedTaskToJson(served));
}

absl::StatusOr<PipelineReport> Pipeline::Run() {
  SetComputeThreads(spec_.threads);
  if (spec_.training.batch_size % ranks() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("training.batch_size (", spec_.training.batch_size,
                                                   ") must be a multiple of the number of ranks (", ranks(), ")"));
  }
  ASSIGN_OR_RETURN(task_, BuildTask(spec_.task));
  task_metric_ = MetricOf(*FindTaskKind(task_.kind));
  if (leader()) {
    RETURN_IF_ERROR(MakeDirectories(spec_.output_dir));
    const std::string job_path = JoinPath(spec_.output_dir, kJobFile);
    const std::string job_yaml = JobSpecToYaml(spec_);
    if (PathExists(job_path)) {
      ASSIGN_OR_RETURN(std::string existing, ReadFile(job_path));
      if (existing != job_yaml) {
        return absl::FailedPreconditionError(absl::StrCat(
            "output directory ", spec_.output_dir, " holds a run of a different job; choose another output.dir"));
      }
    } else {
      RETURN_IF_ERROR(WriteFileAtomic(job_path, job_yaml));
    }
  }

  ASSIGN_OR_RETURN(stages_, BuildStages(spec_.schedule, spec_.training.steps));
  const int64_t pretrain_steps = spec_.model.from_scratch ? spec_.model.scratch.pretrain_steps : 0;
  total_steps_ = pretrain_steps + spec_.training.steps;
  if (pretrain_steps > 0) {
    ASSIGN_OR_RETURN(pretraining_lines_, ReadCorpusLines(spec_.model.scratch.pretrain_corpus));
    pretrain_sampler_ = std::make_unique<BatchSampler>(pretraining_lines_.size(), spec_.seed + 1);
  }
  train_sampler_ = std::make_unique<BatchSampler>(task_.train.size(), spec_.seed);
  ASSIGN_OR_RETURN(prompts_, PromptBuilder::Create(task_.format, task_.example_pool, {spec_.retrieval.k1, spec_.retrieval.b}));
  RETURN_IF_ERROR(PrepareModel());

  RETURN_IF_ERROR(ResumeFromState());
  if (group_ != nullptr) RETURN_IF_ERROR(TakeStateFromLeader());

  PipelineReport report;
  report.output_dir = spec_.output_dir;
  const auto run_start = Clock::now();
  const int64_t first_step = progress_.global_step;
  double window_loss = 0.0;
  int64_t window_steps = 0;
  int64_t window_tokens = 0;
  double last_window_loss = 0.0;
  auto window_start = Clock::now();
  for (int64_t step = progress_.global_step; step < total_steps_; ++step) {
    const int stage = StageOf(step);
    const bool stage_start = stage >= 0 && (step == pretrain_steps || StageOf(step - 1) != stage);
    if (stage_start && progress_.stage_templates.count(stage) == 0) {
      ASSIGN_OR_RETURN(std::string text, StageTemplate(stage));
      Emit({.kind = PipelineEvent::Kind::kStageStarted, .stage = stage, .step = step,
            .keep_ratio = stages_[stage].keep_ratio, .num_examples = stages_[stage].num_examples,
            .message = absl::StrCat("template compressed to ", text.size(), " characters")});
    }
    bool stop = control_.should_stop && control_.should_stop();
    if (group_ != nullptr) {
      ASSIGN_OR_RETURN(const double any_rank_stops, group_->AllReduceMax(stop ? 1 : 0, "stop requests"));
      stop = any_rank_stops > 0;
    }
    if (stop) {
      if (leader()) RETURN_IF_ERROR(SaveState());
      return absl::CancelledError(absl::StrCat("stopped at step ", step, "; state saved for resumption"));
    }
    ASSIGN_OR_RETURN(std::vector<TrainingBatch> batches, MakeStepBatches(step));
    // Dropout draws from the global generator: seed it per step so a resumed run draws the same.
    torch::manual_seed(spec_.seed * 1000003 + static_cast<uint64_t>(step));
    ASSIGN_OR_RETURN(StepStats stats, trainer_->Step(batches));
    progress_.global_step = step + 1;
    window_loss += stats.loss;
    window_tokens += stats.tokens;
    (stage >= 0 ? progress_.train_tokens : progress_.pretrain_tokens) += stats.tokens;
    ++window_steps;

    const bool stage_end = StageOf(step + 1) != stage || step + 1 == total_steps_;
    if (window_steps == kProgressEvery || stage_end) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double done_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
      const double per_step = done_seconds / static_cast<double>(step + 1 - first_step);
      Emit({.kind = PipelineEvent::Kind::kProgress, .stage = stage, .step = step + 1,
            .loss = window_loss / window_steps, .learning_rate = stats.learning_rate,
            .tokens_per_second = window_tokens / std::max(elapsed, 1e-9),
            .eta_seconds = per_step * static_cast<double>(total_steps_ - step - 1)});
      last_window_loss = window_loss / window_steps;
      window_loss = 0.0;
      window_steps = 0;
      window_tokens = 0;
      window_start = Clock::now();
    }
    if (stage_end && stage >= 0) {
      StageReport stage_report;
      stage_report.stage = stages_[stage];
      stage_report.train_loss = last_window_loss;
      stage_report.train_tokens = progress_.train_tokens;
      for (const StageReport& earlier : progress_.stage_reports) stage_report.train_tokens -= earlier.train_tokens;
      ASSIGN_OR_RETURN(std::string text, StageTemplate(stage));
      ASSIGN_OR_RETURN(std::vector<int> kept, tokenizer_->Encode(text));
      stage_report.template_tokens = static_cast<int64_t>(kept.size());
      if (leader() && spec_.eval.stage_limit > 0) {
        ASSIGN_OR_RETURN(stage_report.validation,
                         Evaluate(absl::StrCat("stage ", stage), text, stages_[stage].num_examples,
                                  spec_.eval.stage_limit, /*interruptible=*/group_ == nullptr));
        Emit({.kind = PipelineEvent::Kind::kEvaluation, .stage = stage, .step = step + 1,
              .metrics = EvaluationMetrics(stage_report.validation)});
      }
      progress_.stage_reports.push_back(stage_report);
    }
    const bool periodic = spec_.training.checkpoint_every > 0 && (step + 1) % spec_.training.checkpoint_every == 0;
    if (leader() && (stage_end || periodic)) {
      RETURN_IF_ERROR(SaveState());
      Emit({.kind = PipelineEvent::Kind::kCheckpoint, .stage = stage, .step = step + 1, .path = StatePath(kProgressFile)});
    }
  }
  report.train_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  report.stages = progress_.stage_reports;
  // The other ranks hold the same weights; rank 0 writes and evaluates them.
  if (!leader()) return report;

  RETURN_IF_ERROR(WriteFinalCheckpoint(report));
  const std::string full_template = TemplateText(task_);
  ASSIGN_OR_RETURN(std::vector<int> template_ids, tokenizer_->Encode(full_template));
  report.template_tokens = static_cast<int64_t>(template_ids.size());
  const int full_examples = stages_.front().num_examples;
  for (const std::string& mode : spec_.eval.modes) {
    std::string template_text;
    if (mode == "full_prompt") template_text = full_template;
    if (mode == "compressed") template_text = compressed_template_;
    ASSIGN_OR_RETURN(ModeReport mode_report,
                     Evaluate(mode, template_text, mode == "query_only" ? 0 : full_examples, spec_.eval.limit,
                              /*interruptible=*/true));
    Emit({.kind = PipelineEvent::Kind::kEvaluation, .stage = static_cast<int>(stages_.size()) - 1,
          .step = total_steps_, .metrics = EvaluationMetrics(mode_report), .message = mode});
    RETURN_IF_ERROR(WriteExampleScores(mode_report));
    report.modes.push_back(std::move(mode_report));
  }
  report.train_steps = spec_.training.steps;
  report.train_tokens = progress_.train_tokens;
  if (spec_.promote.enabled) {
    ASSIGN_OR_RETURN(report.promotion, CheckPromotion(report, full_template, full_examples));
    Emit({.kind = PipelineEvent::Kind::kEvaluation, .stage = static_cast<int>(stages_.size()) - 1,
          .step = total_steps_,
          .metrics = {{"candidate", report.promotion->candidate},
                      {"reference", report.promotion->reference_score},
                      {"drop", report.promotion->drop},
                      {"max_drop", report.promotion->max_drop}},
          .message = absl::StrCat("promotion gate: ", report.promotion->reason)});
  }
  report.job = spec_.name;
  report.pretrain_tokens = progress_.pretrain_tokens;
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(spec_.output_dir, kReportFile), DumpJson(PipelineReportToJson(report), 2) + "\n"));
  Emit({.kind = PipelineEvent::Kind::kCompleted, .stage = static_cast<int>(stages_.size()) - 1, .step = total_steps_,
        .path = report.final_model_dir});
  return report;
}

}  // namespace

absl::StatusOr<PipelineReport> RunPipeline(const JobSpec& spec, const PipelineControl& control) {
  Pipeline pipeline(spec, control);
  return pipeline.Run();
}

}  // namespace promptintern
