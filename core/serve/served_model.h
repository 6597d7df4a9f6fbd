// A registry version ready to serve: weights, tokenizer and one serving engine, plus what requests
// address on it: the base's own task (to render the full or the compressed prompt again for any
// query) and any number of LoRA adapter versions over it, each an internalized task of its own.
//
// Adapters are addressed by model name ("bash", "bash@production", "bash@3"), loaded from the
// registry on first use, and kept in an LRU of `max_adapters`: an evicted adapter is simply loaded
// again. An adapter must name this exact base version (Manifest::adapter_of) and match its shapes;
// anything else is refused with FAILED_PRECONDITION and changes nothing that is served. Requests of
// different adapters and of the base share the engine's batches.
//
// ModelHolder follows a registry reference ("name@production"): Refresh() loads a new version in
// the background of serving, verifies and warms it up, then swaps it in; requests already holding
// the old version finish on it. A version that fails to load leaves the old one serving. Refresh
// also notices an adapter alias (or a base selector a request used) that moved and drops what it
// cached for it, so the next request resolves, or loads, the version it names now.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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
struct LowRankAdapter;

enum class PromptMode { kQueryOnly, kFull, kCompressed };

// One servable task on a base: the base itself (adapter() null) or an adapter version over it.
class ServedTarget {
 public:
  ~ServedTarget();
  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const ServedTask& task() const { return task_; }
  int64_t template_tokens() const { return template_tokens_; }
  const std::shared_ptr<const LowRankAdapter>& adapter() const { return adapter_; }

  // The prompt text for `query` in `mode` (the task's template and examples, then the query).
  std::string RenderPrompt(const std::string& query, PromptMode mode) const;
  // RenderPrompt tokenized by this target's tokenizer, starting with its prompt prefix (BOS or none).
  absl::StatusOr<std::vector<int>> RenderPromptIds(const std::string& query, PromptMode mode) const;

 private:
  friend class ServedModel;
  ServedTarget() = default;
  std::string name_;
  int64_t version_ = 0;
  const Tokenizer* tokenizer_ = nullptr;
  ServedTask task_;
  std::unique_ptr<PromptBuilder> prompts_;
  std::string full_template_;
  std::string compressed_template_;
  int64_t template_tokens_ = 0;
  std::shared_ptr<const LowRankAdapter> adapter_;
};

struct ServingOptions {
  EngineOptions engine;
  // Adapters kept loaded; the least recently used beyond this is dropped.
  int max_adapters = 8;
  // The serving weight format (LoadModelForServing); nullopt: as the checkpoint stores it.
  std::optional<WeightFormat> weights;
};

class ServedModel {
 public:
  // `registry` must outlive the ServedModel (adapters are loaded from it on first use).
  static absl::StatusOr<std::shared_ptr<ServedModel>> Load(ModelRegistry& registry, const std::string& reference,
                                                           const ServingOptions& options);
  ~ServedModel();

  const std::string& name() const { return base_->name(); }
  int64_t version() const { return base_->version(); }
  const std::string& base_model() const { return base_model_; }
  const DecoderModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Engine& engine() { return *engine_; }
  const std::shared_ptr<const ServedTarget>& base() const { return base_; }

  // What a request's model field addresses: "" or this base's name is the base; "base@selector"
  // is the base when the selector names the version served (resolved once, then cached like an
  // adapter reference until DropStaleReferences); any other name is an adapter reference, loaded
  // on first use. NOT_FOUND for a model the registry lacks, FAILED_PRECONDITION for a version that
  // is not the one served, not an adapter of this base or does not fit it.
  absl::StatusOr<std::shared_ptr<const ServedTarget>> Target(const std::string& model);
  // The adapters loaded now, most recently used first.
  std::vector<std::shared_ptr<const ServedTarget>> LoadedAdapters() const;
  // Drops every cached reference (a loaded adapter, a resolved base selector) that resolves to
  // another version now (an alias moved), or no longer resolves. Returns how many were dropped.
  int DropStaleReferences();

 private:
  ServedModel() = default;
  absl::StatusOr<std::shared_ptr<const ServedTarget>> MakeTarget(const std::string& name, int64_t version,
                                                                 const std::string& directory,
                                                                 std::shared_ptr<const LowRankAdapter> adapter);
  absl::StatusOr<std::shared_ptr<const ServedTarget>> LoadAdapter(const std::string& reference);

  ModelRegistry* registry_ = nullptr;
  ServingOptions options_;
  std::string base_model_;
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::shared_ptr<const ServedTarget> base_;
  std::unique_ptr<Engine> engine_;

  absl::Mutex load_mu_;  // one adapter load at a time
  mutable absl::Mutex adapters_mu_;
  // Reference as requests name it -> target; `lru_` orders the references, most recent first.
  absl::flat_hash_map<std::string, std::shared_ptr<const ServedTarget>> adapters_ ABSL_GUARDED_BY(adapters_mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(adapters_mu_);
  // "base@selector" references that resolved to the served version, so a request naming one
  // reads no registry file.
  absl::flat_hash_set<std::string> base_selectors_ ABSL_GUARDED_BY(adapters_mu_);
};

class ModelHolder {
 public:
  ModelHolder(ModelRegistry* registry, std::string reference, ServingOptions options)
      : registry_(registry), reference_(std::move(reference)), options_(std::move(options)) {}

  // Resolves the reference; loads and swaps in the version it names if that is not the one
  // serving. Returns true when it swapped. On failure the current version keeps serving.
  absl::StatusOr<bool> Refresh();
  // The version serving now; null before the first successful load.
  std::shared_ptr<ServedModel> current() const;
  const std::string& reference() const { return reference_; }

 private:
  ModelRegistry* registry_;
  std::string reference_;
  ServingOptions options_;
  absl::Mutex refresh_mu_;  // one load at a time
  mutable absl::Mutex mu_;
  std::shared_ptr<ServedModel> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace promptintern
