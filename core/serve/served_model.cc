#include "core/serve/served_model.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/checkpoint/checkpoint.h"
#include "core/compress/self_information.h"
#include "core/compress/template_compression.h"
#include "core/model/decoder.h"
#include "core/pipeline/pipeline.h"
#include "core/registry/registry.h"
#include "core/serve/output_processor.h"
#include "core/task/prompt_builder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {

ServedModel::~ServedModel() {
  // The engine reads the model and tokenizer: stop it before they go.
  engine_.reset();
}

absl::StatusOr<std::shared_ptr<ServedModel>> ServedModel::Load(ModelRegistry& registry, const std::string& reference,
                                                               const EngineOptions& options,
                                                               std::optional<WeightFormat> weights) {
  ASSIGN_OR_RETURN(OpenedVersion opened, registry.Open(reference));
  std::shared_ptr<ServedModel> served(new ServedModel());
  served->name_ = opened.model_name;
  served->version_ = opened.version;
  served->base_model_ = opened.manifest.base_model;
  ASSIGN_OR_RETURN(served->model_, LoadModelForServing(opened.directory, weights));
  ASSIGN_OR_RETURN(served->tokenizer_, Tokenizer::LoadFromDirectory(opened.directory));
  const std::string task_path = JoinPath(opened.directory, kTaskFile);
  ASSIGN_OR_RETURN(std::string task_text, ReadFile(task_path));
  ASSIGN_OR_RETURN(served->task_, ServedTaskFromJson(task_text, task_path));
  ASSIGN_OR_RETURN(served->prompts_, PromptBuilder::Create(served->task_.task.format, served->task_.task.example_pool,
                                                           served->task_.retrieval));
  served->full_template_ = TemplateText(served->task_.task);
  {
    ASSIGN_OR_RETURN(std::vector<int> template_ids, served->tokenizer_->Encode(served->full_template_));
    served->template_tokens_ = static_cast<int64_t>(template_ids.size());
  }
  served->compressed_template_ = served->task_.compressed_template;
  if (served->compressed_template_.empty() && !served->full_template_.empty()) {
    // A task file from before the compressed template was stored: compress again, as it was then.
    c10::InferenceMode inference_mode;
    ASSIGN_OR_RETURN(auto compressor, MakeTemplateCompressor(served->task_.compression_method, 1,
                                                             ModelSurprisal(*served->model_, served->tokenizer_->bos_id())));
    ASSIGN_OR_RETURN(CompressedTemplate compressed,
                     CompressTemplate(*compressor, *served->tokenizer_, served->full_template_,
                                      served->task_.compressed_keep_ratio));
    served->compressed_template_ = compressed.text;
  }
  ASSIGN_OR_RETURN(served->engine_, Engine::Start(*served->model_, options));
  // Warm-up: one real request through the engine before any client sees this version.
  ASSIGN_OR_RETURN(std::vector<int> warm_prompt, served->RenderPromptIds("hello", PromptMode::kQueryOnly));
  EngineRequest warm;
  warm.prompt_ids = warm_prompt;
  warm.max_new_tokens = 2;
  OutputOptions warm_output;
  warm_output.tokenizer = served->tokenizer_.get();
  auto warmed = Generate(*served->engine_, warm, warm_output);
  if (!warmed.ok()) {
    return absl::InternalError(absl::StrCat("warm-up of ", served->name_, "@", served->version_,
                                            " failed: ", warmed.status().message()));
  }
  return served;
}

absl::StatusOr<std::vector<int>> ServedModel::RenderPromptIds(const std::string& query, PromptMode mode) const {
  std::string prompt;
  switch (mode) {
    case PromptMode::kQueryOnly:
      prompt = prompts_->Render("", 0, query);
      break;
    case PromptMode::kFull:
      prompt = prompts_->Render(full_template_, task_.full_prompt_examples, query);
      break;
    case PromptMode::kCompressed:
      prompt = prompts_->Render(compressed_template_, task_.full_prompt_examples, query);
      break;
  }
  return tokenizer_->EncodePrompt(prompt);
}

absl::StatusOr<bool> ModelHolder::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  ASSIGN_OR_RETURN(const int64_t version, registry_->Resolve(reference_));
  {
    absl::MutexLock lock(&mu_);
    if (current_ != nullptr && current_->version() == version) return false;
  }
  const std::string name = reference_.substr(0, reference_.find('@'));
  ASSIGN_OR_RETURN(std::shared_ptr<ServedModel> loaded,
                   ServedModel::Load(*registry_, absl::StrCat(name, "@", version), options_, weights_));
  absl::MutexLock lock(&mu_);
  current_ = std::move(loaded);
  return true;
}

std::shared_ptr<ServedModel> ModelHolder::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace promptintern
