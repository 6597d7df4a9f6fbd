// Optimizer steps for a DecoderModel: AdamW, warmup + cosine learning rate, gradient clipping and
// gradient accumulation. Full fine-tuning trains every weight; LoRA trains only the adapters.
//
// The loss of a step is the mean over all target tokens of all its micro-batches, so accumulating
// k micro-batches gives the same gradient as one batch holding all of them. With a process group
// the same holds across ranks: each rank divides its loss by the target tokens of all ranks and the
// gradients are summed, so N ranks with a slice each take the step one process takes on the whole
// batch (up to floating-point summation order), and every rank's weights stay identical.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/train/causal_lm.h"
#include "core/train/lr_schedule.h"

namespace torch::optim {
class AdamW;
}

namespace promptintern {

class DecoderModel;
class ProcessGroup;

struct OptimizerConfig {
  LrSchedule schedule;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  // 0 disables clipping.
  double max_grad_norm = 1.0;
  absl::Status Validate() const;
};

struct StepStats {
  int64_t step = 0;            // the step just taken, counting from 1
  double loss = 0.0;           // mean per target token
  double grad_norm = 0.0;      // before clipping
  double learning_rate = 0.0;
  int64_t target_tokens = 0;
  int64_t tokens = 0;
};

class ModelTrainer {
 public:
  // LoRA-only when the model has adapters attached and `lora_only` is set.
  static absl::StatusOr<std::unique_ptr<ModelTrainer>> Create(DecoderModel* model, const OptimizerConfig& config,
                                                              bool lora_only);
  ~ModelTrainer();

  // Data-parallel from now on: every Step is a collective that all ranks of `group` must enter
  // (null: single process). `group` must outlive the trainer.
  void ShareGradientsWith(ProcessGroup* group) { group_ = group; }

  // With a process group, `micro_batches` are this rank's slice and the stats are global.
  absl::StatusOr<StepStats> Step(const std::vector<TrainingBatch>& micro_batches);

  // Mean loss per target token without updating anything.
  absl::StatusOr<double> EvaluateLoss(const std::vector<TrainingBatch>& batches) const;

  int64_t steps_taken() const { return steps_taken_; }
  size_t num_trainable_parameters() const;

  // Optimizer moments and step count, so an interrupted run resumes exactly.
  absl::Status SaveState(const std::string& path) const;
  absl::Status LoadState(const std::string& path);
  // The same state as bytes, to hand to another rank; `source` names it in errors.
  absl::StatusOr<std::string> SerializeState() const;
  absl::Status RestoreState(const std::string& bytes, const std::string& source);

 private:
  ModelTrainer() = default;
  DecoderModel* model_ = nullptr;
  OptimizerConfig config_;
  std::vector<at::Tensor> parameters_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  ProcessGroup* group_ = nullptr;
  int64_t steps_taken_ = 0;
};

}  // namespace promptintern
