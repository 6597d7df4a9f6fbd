#include "core/train/model_trainer.h"

#include <torch/torch.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/distributed/process_group.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {

absl::Status OptimizerConfig::Validate() const {
  if (!(schedule.peak > 0)) return absl::InvalidArgumentError("optimizer.learning_rate must be positive");
  if (schedule.warmup_steps < 0) return absl::InvalidArgumentError("optimizer.warmup_steps must be >= 0");
  if (schedule.total_steps <= 0) return absl::InvalidArgumentError("optimizer.total_steps must be positive");
  if (!(schedule.min_ratio >= 0 && schedule.min_ratio <= 1)) {
    return absl::InvalidArgumentError("optimizer.min_lr_ratio must be in [0, 1]");
  }
  if (!(weight_decay >= 0)) return absl::InvalidArgumentError("optimizer.weight_decay must be >= 0");
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    return absl::InvalidArgumentError("optimizer betas must be in [0, 1)");
  }
  if (!(epsilon > 0)) return absl::InvalidArgumentError("optimizer.epsilon must be positive");
  if (!(max_grad_norm >= 0)) return absl::InvalidArgumentError("optimizer.max_grad_norm must be >= 0");
  return absl::OkStatus();
}

ModelTrainer::~ModelTrainer() = default;

absl::StatusOr<std::unique_ptr<ModelTrainer>> ModelTrainer::Create(DecoderModel* model, const OptimizerConfig& config,
                                                                   bool lora_only) {
  RETURN_IF_ERROR(config.Validate());
  if (model->weights_released()) {
    return absl::FailedPreconditionError("a model that released its unpacked weights for serving cannot be trained");
  }
  std::unique_ptr<ModelTrainer> trainer(new ModelTrainer());
  trainer->model_ = model;
  trainer->config_ = config;
  if (lora_only) {
    trainer->parameters_ = LoraParameters(*model);
    if (trainer->parameters_.empty()) {
      return absl::FailedPreconditionError("LoRA-only training needs adapters attached to the model");
    }
  } else {
    for (auto& [name, weight] : model->NamedWeights()) trainer->parameters_.push_back(weight);
    for (const at::Tensor& adapter : LoraParameters(*model)) trainer->parameters_.push_back(adapter);
  }
  RETURN_IF_ERROR(CallTorchVoid("creating the optimizer", [&] {
    for (at::Tensor& parameter : trainer->parameters_) parameter.requires_grad_(true);
    if (lora_only) {
      for (auto& [name, weight] : model->NamedWeights()) weight.requires_grad_(false);
    }
    torch::optim::AdamWOptions options(config.schedule.At(0));
    options.betas({config.beta1, config.beta2}).eps(config.epsilon).weight_decay(config.weight_decay);
    trainer->optimizer_ = std::make_unique<torch::optim::AdamW>(trainer->parameters_, options);
  }));
  return trainer;
}

size_t ModelTrainer::num_trainable_parameters() const {
  size_t total = 0;
  for (const at::Tensor& parameter : parameters_) total += parameter.numel();
  return total;
}

absl::StatusOr<StepStats> ModelTrainer::Step(const std::vector<TrainingBatch>& micro_batches) {
  if (micro_batches.empty()) return absl::InvalidArgumentError("a training step needs at least one batch");
  StepStats stats;
  for (const TrainingBatch& batch : micro_batches) {
    stats.target_tokens += batch.target_tokens;
    stats.tokens += batch.tokens_in_batch;
  }
  if (group_ != nullptr) {
    // Global counts before the backward pass: every rank divides by all ranks' target tokens.
    ASSIGN_OR_RETURN(at::Tensor counts, CallTorch("counting tokens", [&] {
                       return at::tensor(std::vector<double>{static_cast<double>(stats.target_tokens),
                                                             static_cast<double>(stats.tokens)},
                                         at::kDouble);
                     }));
    RETURN_IF_ERROR(group_->AllReduceSum({counts}, "token counts"));
    stats.target_tokens = static_cast<int64_t>(counts.data_ptr<double>()[0]);
    stats.tokens = static_cast<int64_t>(counts.data_ptr<double>()[1]);
  }
  if (stats.target_tokens == 0) return absl::InvalidArgumentError("training step without any target token");
  const double learning_rate = config_.schedule.At(steps_taken_);

  optimizer_->zero_grad();
  double loss_sum = 0.0;
  for (const TrainingBatch& batch : micro_batches) {
    ASSIGN_OR_RETURN(at::Tensor loss, CausalLmLossSum(*model_, batch));
    RETURN_IF_ERROR(CallTorchVoid("backward pass", [&] {
      loss_sum += loss.item<double>();
      (loss / static_cast<double>(stats.target_tokens)).backward();
    }));
  }
  if (group_ != nullptr) {
    std::vector<at::Tensor> gradients;
    RETURN_IF_ERROR(CallTorchVoid("collecting gradients", [&] {
      for (at::Tensor& parameter : parameters_) {
        // A parameter this rank's slice never touched still takes part in the sum.
        if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
        gradients.push_back(parameter.grad());
      }
    }));
    RETURN_IF_ERROR(group_->AllReduceSum(gradients, "gradients"));
    ASSIGN_OR_RETURN(loss_sum, group_->AllReduceSum(loss_sum, "training loss"));
  }
  RETURN_IF_ERROR(CallTorchVoid("optimizer step", [&] {
    const double max_norm = config_.max_grad_norm > 0 ? config_.max_grad_norm : std::numeric_limits<double>::infinity();
    stats.grad_norm = torch::nn::utils::clip_grad_norm_(parameters_, max_norm);
    for (auto& group : optimizer_->param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
    }
    optimizer_->step();
  }));
  ++steps_taken_;
  stats.step = steps_taken_;
  stats.loss = loss_sum / static_cast<double>(stats.target_tokens);
  stats.learning_rate = learning_rate;
  if (!std::isfinite(stats.loss)) {
    return absl::InternalError(absl::StrCat("training diverged at step ", steps_taken_, ": loss is ", stats.loss));
  }
  return stats;
}

absl::StatusOr<double> ModelTrainer::EvaluateLoss(const std::vector<TrainingBatch>& batches) const {
  at::NoGradGuard no_grad;
  double loss_sum = 0.0;
  int64_t targets = 0;
  for (const TrainingBatch& batch : batches) {
    ASSIGN_OR_RETURN(at::Tensor loss, CausalLmLossSum(*model_, batch));
    loss_sum += loss.item<double>();
    targets += batch.target_tokens;
  }
  if (targets == 0) return absl::InvalidArgumentError("evaluation without any target token");
  return loss_sum / static_cast<double>(targets);
}

absl::StatusOr<std::string> ModelTrainer::SerializeState() const {
  return CallTorch("serializing the optimizer state", [&] {
    torch::serialize::OutputArchive archive;
    optimizer_->save(archive);
    archive.write("steps_taken", at::tensor(steps_taken_, at::kLong));
    std::ostringstream bytes;
    archive.save_to(bytes);
    return bytes.str();
  });
}

absl::Status ModelTrainer::RestoreState(const std::string& bytes, const std::string& source) {
  return CallTorchVoid(absl::StrCat("loading optimizer state from ", source), [&] {
    torch::serialize::InputArchive archive;
    std::istringstream stream(bytes);
    archive.load_from(stream);
    optimizer_->load(archive);
    at::Tensor steps;
    archive.read("steps_taken", steps);
    steps_taken_ = steps.item<int64_t>();
  });
}

absl::Status ModelTrainer::SaveState(const std::string& path) const {
  ASSIGN_OR_RETURN(std::string bytes, SerializeState());
  return WriteFileAtomic(path, bytes);
}

absl::Status ModelTrainer::LoadState(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return RestoreState(bytes, path);
}

}  // namespace promptintern
