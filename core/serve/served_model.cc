#include "core/serve/served_model.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/checkpoint/checkpoint.h"
#include "core/compress/self_information.h"
#include "core/compress/template_compression.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/registry/registry.h"
#include "core/serve/output_processor.h"
#include "core/task/prompt_builder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

std::string Label(const std::string& name, int64_t version) { return absl::StrCat(name, "@", version); }

}  // namespace

ServedTarget::~ServedTarget() = default;

std::string ServedTarget::RenderPrompt(const std::string& query, PromptMode mode) const {
  switch (mode) {
    case PromptMode::kFull:
      return prompts_->Render(full_template_, task_.full_prompt_examples, query);
    case PromptMode::kCompressed:
      return prompts_->Render(compressed_template_, task_.full_prompt_examples, query);
    case PromptMode::kQueryOnly:
      break;
  }
  return prompts_->Render("", 0, query);
}

absl::StatusOr<std::vector<int>> ServedTarget::RenderPromptIds(const std::string& query, PromptMode mode) const {
  return tokenizer_->EncodePrompt(RenderPrompt(query, mode));
}

ServedModel::~ServedModel() {
  // The engine reads the model, the tokenizer and the adapters: stop it before they go.
  engine_.reset();
}

absl::StatusOr<std::shared_ptr<const ServedTarget>> ServedModel::MakeTarget(
    const std::string& name, int64_t version, const std::string& directory,
    std::shared_ptr<const LowRankAdapter> adapter) {
  std::shared_ptr<ServedTarget> target(new ServedTarget());
  target->name_ = name;
  target->version_ = version;
  target->tokenizer_ = tokenizer_.get();
  target->adapter_ = std::move(adapter);
  const std::string task_path = JoinPath(directory, kTaskFile);
  ASSIGN_OR_RETURN(std::string task_text, ReadFile(task_path));
  ASSIGN_OR_RETURN(target->task_, ServedTaskFromJson(task_text, task_path));
  ASSIGN_OR_RETURN(target->prompts_, PromptBuilder::Create(target->task_.task.format, target->task_.task.example_pool,
                                                           target->task_.retrieval));
  target->full_template_ = TemplateText(target->task_.task);
  {
    ASSIGN_OR_RETURN(std::vector<int> template_ids, tokenizer_->Encode(target->full_template_));
    target->template_tokens_ = static_cast<int64_t>(template_ids.size());
  }
  target->compressed_template_ = target->task_.compressed_template;
  if (target->compressed_template_.empty() && !target->full_template_.empty()) {
    // A task file from before the compressed template was stored: compress again, as it was then.
    c10::InferenceMode inference_mode;
    ASSIGN_OR_RETURN(auto compressor, MakeTemplateCompressor(target->task_.compression_method, 1,
                                                             ModelSurprisal(*model_, tokenizer_->prompt_prefix())));
    ASSIGN_OR_RETURN(CompressedTemplate compressed,
                     CompressTemplate(*compressor, *tokenizer_, target->full_template_,
                                      target->task_.compressed_keep_ratio));
    target->compressed_template_ = compressed.text;
  }
  return std::shared_ptr<const ServedTarget>(std::move(target));
}

absl::StatusOr<std::shared_ptr<ServedModel>> ServedModel::Load(ModelRegistry& registry, const std::string& reference,
                                                               const ServingOptions& options) {
  ASSIGN_OR_RETURN(OpenedVersion opened, registry.Open(reference));
  if (opened.manifest.adapter_of) {
    return absl::FailedPreconditionError(
        absl::StrCat(Label(opened.model_name, opened.version), " is an adapter of ",
                     Label(opened.manifest.adapter_of->model, opened.manifest.adapter_of->version),
                     ": serve that base and address the adapter by name in requests"));
  }
  std::shared_ptr<ServedModel> served(new ServedModel());
  served->registry_ = &registry;
  served->options_ = options;
  served->base_model_ = opened.manifest.base_model;
  ASSIGN_OR_RETURN(Checkpoint checkpoint, LoadCheckpointForServing(opened.directory, options.weights));
  served->model_ = std::move(checkpoint.model);
  served->tokenizer_ = std::move(checkpoint.tokenizer);
  ASSIGN_OR_RETURN(served->base_, served->MakeTarget(opened.model_name, opened.version, opened.directory, nullptr));
  ASSIGN_OR_RETURN(served->engine_, Engine::Start(*served->model_, options.engine));
  // Warm-up: one real request through the engine before any client sees this version.
  ASSIGN_OR_RETURN(std::vector<int> warm_prompt, served->base_->RenderPromptIds("hello", PromptMode::kQueryOnly));
  EngineRequest warm;
  warm.prompt_ids = warm_prompt;
  warm.max_new_tokens = 2;
  OutputOptions warm_output;
  warm_output.tokenizer = served->tokenizer_.get();
  auto warmed = Generate(*served->engine_, warm, warm_output);
  if (!warmed.ok()) {
    return absl::InternalError(absl::StrCat("warm-up of ", Label(opened.model_name, opened.version),
                                            " failed: ", warmed.status().message()));
  }
  return served;
}

absl::StatusOr<std::shared_ptr<const ServedTarget>> ServedModel::Target(const std::string& model) {
  const std::string name = model.substr(0, model.find('@'));
  if (model.empty() || name == base_->name()) {
    if (name.size() < model.size()) {
      // "base@selector": fine when it names the version being served.
      {
        absl::MutexLock lock(&adapters_mu_);
        if (base_selectors_.contains(model)) return base_;
      }
      ASSIGN_OR_RETURN(const int64_t version, registry_->Resolve(model));
      if (version != base_->version()) {
        return absl::FailedPreconditionError(absl::StrCat(model, " is version ", version, "; this service serves ",
                                                          Label(base_->name(), base_->version())));
      }
      absl::MutexLock lock(&adapters_mu_);
      base_selectors_.insert(model);
    }
    return base_;
  }
  {
    absl::MutexLock lock(&adapters_mu_);
    if (auto found = adapters_.find(model); found != adapters_.end()) {
      lru_.remove(model);
      lru_.push_front(model);
      return found->second;
    }
  }
  absl::MutexLock load_lock(&load_mu_);
  {
    // Another request may have loaded it while this one waited.
    absl::MutexLock lock(&adapters_mu_);
    if (auto found = adapters_.find(model); found != adapters_.end()) return found->second;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServedTarget> target, LoadAdapter(model));
  absl::MutexLock lock(&adapters_mu_);
  adapters_[model] = target;
  lru_.push_front(model);
  while (static_cast<int>(lru_.size()) > std::max(options_.max_adapters, 0)) {
    adapters_.erase(lru_.back());
    lru_.pop_back();
  }
  return target;
}

absl::StatusOr<std::shared_ptr<const ServedTarget>> ServedModel::LoadAdapter(const std::string& reference) {
  ASSIGN_OR_RETURN(OpenedVersion opened, registry_->Open(reference));
  const std::string label = Label(opened.model_name, opened.version);
  const std::string serving = Label(base_->name(), base_->version());
  if (!opened.manifest.adapter_of) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, " is a model of its own, not an adapter; this service serves ", serving));
  }
  const AdapterBase& base = *opened.manifest.adapter_of;
  if (base.model != base_->name() || base.version != base_->version()) {
    return absl::FailedPreconditionError(absl::StrCat(label, " is an adapter of ", Label(base.model, base.version),
                                                      "; this service serves ", serving));
  }
  absl::StatusOr<std::shared_ptr<const LowRankAdapter>> adapter = ReadLoraAdapter(*model_, opened.directory, label);
  if (!adapter.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, " does not fit ", serving, ": ", adapter.status().message()));
  }
  return MakeTarget(opened.model_name, opened.version, opened.directory, *std::move(adapter));
}

std::vector<std::shared_ptr<const ServedTarget>> ServedModel::LoadedAdapters() const {
  absl::MutexLock lock(&adapters_mu_);
  std::vector<std::shared_ptr<const ServedTarget>> loaded;
  for (const std::string& reference : lru_) loaded.push_back(adapters_.at(reference));
  return loaded;
}

int ServedModel::DropStaleReferences() {
  std::vector<std::pair<std::string, int64_t>> cached;
  std::vector<std::string> selectors;
  {
    absl::MutexLock lock(&adapters_mu_);
    for (const auto& [reference, target] : adapters_) cached.emplace_back(reference, target->version());
    selectors.assign(base_selectors_.begin(), base_selectors_.end());
  }
  int dropped = 0;
  for (const std::string& selector : selectors) {
    absl::StatusOr<int64_t> now = registry_->Resolve(selector);
    if (now.ok() && *now == base_->version()) continue;
    absl::MutexLock lock(&adapters_mu_);
    dropped += static_cast<int>(base_selectors_.erase(selector));
  }
  for (const auto& [reference, version] : cached) {
    absl::StatusOr<int64_t> now = registry_->Resolve(reference);
    if (now.ok() && *now == version) continue;
    absl::MutexLock lock(&adapters_mu_);
    if (auto found = adapters_.find(reference); found != adapters_.end() && found->second->version() == version) {
      adapters_.erase(found);
      lru_.remove(reference);
      ++dropped;
    }
  }
  return dropped;
}

absl::StatusOr<bool> ModelHolder::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  ASSIGN_OR_RETURN(const int64_t version, registry_->Resolve(reference_));
  if (std::shared_ptr<ServedModel> serving = current(); serving != nullptr && serving->version() == version) {
    serving->DropStaleReferences();
    return false;
  }
  const std::string name = reference_.substr(0, reference_.find('@'));
  ASSIGN_OR_RETURN(std::shared_ptr<ServedModel> loaded,
                   ServedModel::Load(*registry_, absl::StrCat(name, "@", version), options_));
  absl::MutexLock lock(&mu_);
  current_ = std::move(loaded);
  return true;
}

std::shared_ptr<ServedModel> ModelHolder::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace promptintern
