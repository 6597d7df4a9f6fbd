// A registry version ready to serve: weights, tokenizer, the stored task (to render the full or a
// compressed prompt again for any query), and its own serving engine.
//
// ModelHolder follows a registry reference ("name@production"): Refresh() loads a new version in
// the background of serving, verifies and warms it up, then swaps it in; requests already holding
// the old version finish on it. A version that fails to load leaves the old one serving.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/kernels/packed_weight.h"
#include "core/serve/engine.h"
#include "core/task/task_json.h"

namespace promptintern {

class DecoderModel;
class ModelRegistry;
class PromptBuilder;
class Tokenizer;

enum class PromptMode { kQueryOnly, kFull, kCompressed };

class ServedModel {
 public:
  // `weights`: the serving weight format (LoadModelForServing); nullopt: the checkpoint's dtype.
  static absl::StatusOr<std::shared_ptr<ServedModel>> Load(ModelRegistry& registry, const std::string& reference,
                                                           const EngineOptions& options,
                                                           std::optional<WeightFormat> weights = std::nullopt);
  ~ServedModel();

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const std::string& base_model() const { return base_model_; }
  const DecoderModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ServedTask& task() const { return task_; }
  int64_t template_tokens() const { return template_tokens_; }
  Engine& engine() { return *engine_; }

  // The model input for `query` in `mode` (BOS included).
  absl::StatusOr<std::vector<int>> RenderPromptIds(const std::string& query, PromptMode mode) const;

 private:
  ServedModel() = default;
  std::string name_;
  int64_t version_ = 0;
  std::string base_model_;
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ServedTask task_;
  std::unique_ptr<PromptBuilder> prompts_;
  std::string full_template_;
  std::string compressed_template_;
  int64_t template_tokens_ = 0;
  std::unique_ptr<Engine> engine_;
};

class ModelHolder {
 public:
  ModelHolder(ModelRegistry* registry, std::string reference, EngineOptions options,
              std::optional<WeightFormat> weights = std::nullopt)
      : registry_(registry), reference_(std::move(reference)), options_(options), weights_(weights) {}

  // Resolves the reference; loads and swaps in the version it names if that is not the one
  // serving. Returns true when it swapped. On failure the current version keeps serving.
  absl::StatusOr<bool> Refresh();
  // The version serving now; null before the first successful load.
  std::shared_ptr<ServedModel> current() const;
  const std::string& reference() const { return reference_; }

 private:
  ModelRegistry* registry_;
  std::string reference_;
  EngineOptions options_;
  std::optional<WeightFormat> weights_;
  absl::Mutex refresh_mu_;  // one load at a time
  mutable absl::Mutex mu_;
  std::shared_ptr<ServedModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promptintern
