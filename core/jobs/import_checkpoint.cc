#include "core/jobs/import_checkpoint.h"

#include <stdlib.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "core/checkpoint/checkpoint.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/pipeline/pipeline.h"
#include "core/task/task_json.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

constexpr char kSmokePrompt[] = "Hello";

// One forward pass over a short prompt: weights that load but hold NaN or infinity are refused here
// rather than by the first user.
absl::Status CheckItRuns(const Checkpoint& checkpoint, const std::string& directory) {
  ASSIGN_OR_RETURN(std::vector<int> ids, checkpoint.tokenizer->EncodePrompt(kSmokePrompt));
  c10::InferenceMode inference_mode;
  ASSIGN_OR_RETURN(const at::Tensor tokens, CallTorch("import smoke-test input", [&] {
                     return at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).view({1, -1});
                   }));
  ASSIGN_OR_RETURN(const at::Tensor hidden, checkpoint.model->Forward(tokens, {0}, nullptr));
  ASSIGN_OR_RETURN(const at::Tensor logits, checkpoint.model->Logits(hidden));
  ASSIGN_OR_RETURN(const bool finite, CallTorch("checking logits", [&] { return at::isfinite(logits).all().item<bool>(); }));
  if (!finite) {
    return absl::DataLossError(absl::StrCat("checkpoint ", directory, ": the model's logits for \"", kSmokePrompt,
                                            "\" are not finite (NaN or infinite weights?)"));
  }
  return absl::OkStatus();
}

// Places `source` (a symbolic link is followed) at `destination`: a hard link where the file system
// allows one, a copy otherwise.
absl::Status PlaceFile(const fs::path& source, const fs::path& destination) {
  std::error_code error;
  const fs::path target = fs::canonical(source, error);
  if (error) return absl::NotFoundError(absl::StrCat("cannot resolve ", source.string(), ": ", error.message()));
  if (!fs::is_regular_file(target, error)) {
    return absl::InvalidArgumentError(absl::StrCat(source.string(), " is not a regular file"));
  }
  fs::create_hard_link(target, destination, error);
  if (!error) return absl::OkStatus();
  error.clear();
  fs::copy_file(target, destination, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot copy ", target.string(), " to ", destination.string(), ": ",
                                            error.message()));
  }
  return absl::OkStatus();
}

// A fresh private directory, removed with everything in it when this goes out of scope.
class StagingDirectory {
 public:
  static absl::StatusOr<std::unique_ptr<StagingDirectory>> Create() {
    std::error_code error;
    std::string pattern = (fs::temp_directory_path(error) / "promptintern-import-XXXXXX").string();
    if (error || ::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a staging directory like ", pattern));
    }
    return std::unique_ptr<StagingDirectory>(new StagingDirectory(pattern));
  }
  ~StagingDirectory() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  explicit StagingDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The task.json text to publish with `name`: options.task_path, else the directory's own, else
// QueryAsPromptTask. Sets result.has_task (and result.task_path).
absl::StatusOr<std::string> ReadTask(const std::string& name, const std::string& directory,
                                     const ImportOptions& options, ImportResult& result) {
  std::string task_path = options.task_path;
  if (task_path.empty() && PathExists(JoinPath(directory, kTaskFile))) task_path = JoinPath(directory, kTaskFile);
  if (task_path.empty()) return ServedTaskToJson(QueryAsPromptTask(name));
  ASSIGN_OR_RETURN(std::string task_json, ReadFile(task_path));
  RETURN_IF_ERROR(ServedTaskFromJson(task_json, task_path).status());
  result.has_task = true;
  result.task_path = task_path;
  return task_json;
}

std::string TaskOrigin(const ImportResult& result) {
  return result.has_task ? result.task_path : "none: the query is the prompt";
}

// Stages result.files of `directory` and the task in a private directory to publish from, and
// lists in result.left_out what else the directory holds.
absl::StatusOr<std::unique_ptr<StagingDirectory>> StageFiles(const std::string& directory, const std::string& task_json,
                                                             const ImportOptions& options, ImportResult& result) {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, error)) {
    const std::string file = entry.path().filename().string();
    if (std::find(result.files.begin(), result.files.end(), file) != result.files.end()) continue;
    if (file == kTaskFile && options.task_path.empty()) continue;
    result.left_out.push_back(entry.is_directory(error) ? file + "/" : file);
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", directory, ": ", error.message()));
  std::sort(result.left_out.begin(), result.left_out.end());

  ASSIGN_OR_RETURN(std::unique_ptr<StagingDirectory> staging, StagingDirectory::Create());
  for (const std::string& file : result.files) {
    RETURN_IF_ERROR(PlaceFile(fs::path(directory) / file, fs::path(staging->path()) / file));
  }
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(staging->path(), kTaskFile), task_json));
  result.files.push_back(kTaskFile);
  return staging;
}

}  // namespace

absl::StatusOr<ImportResult> ImportCheckpoint(ModelRegistry& registry, const std::string& name,
                                              const std::string& directory, const ImportOptions& options) {
  RETURN_IF_ERROR(ValidateModelName(name));
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory not found: ", directory));
  }
  ASSIGN_OR_RETURN(const Checkpoint checkpoint, LoadCheckpointForServing(directory));
  RETURN_IF_ERROR(CheckItRuns(checkpoint, directory));

  ImportResult result;
  const ModelConfig& config = checkpoint.model->config();
  result.model_type = config.model_type;
  result.parameters = config.NumParameters();
  result.tokenizer = checkpoint.tokenizer->file_name();

  ASSIGN_OR_RETURN(const std::string task_json, ReadTask(name, directory, options, result));
  result.files = {kConfigFile};
  ASSIGN_OR_RETURN(const std::vector<std::string> weights, WeightFileNames(directory));
  result.files.insert(result.files.end(), weights.begin(), weights.end());
  for (const auto& [file, bytes] : checkpoint.tokenizer->files()) result.files.push_back(file);
  ASSIGN_OR_RETURN(const std::unique_ptr<StagingDirectory> staging, StageFiles(directory, task_json, options, result));

  const std::string source = fs::absolute(directory, error).lexically_normal().string();
  ManifestInfo info;
  info.base_model = options.base_model.empty() ? source : options.base_model;
  info.tokenizer = TokenizerFileIn(staging->path());
  info.extra = {{"imported_from", source},
                {"model_type", result.model_type},
                {"parameters", result.parameters},
                {"torch_dtype", config.torch_dtype},
                {"task", TaskOrigin(result)}};
  ASSIGN_OR_RETURN(result.published, registry.Publish(name, staging->path(), info));
  return result;
}

absl::StatusOr<ImportResult> ImportAdapter(ModelRegistry& registry, const std::string& name,
                                           const std::string& directory, const std::string& base,
                                           const ImportOptions& options) {
  RETURN_IF_ERROR(ValidateModelName(name));
  std::error_code error;
  if (!fs::is_directory(directory, error)) return absl::NotFoundError(absl::StrCat("adapter directory not found: ", directory));
  for (const char* file : {kAdapterConfigFile, kAdapterWeightsFile}) {
    if (!PathExists(JoinPath(directory, file))) {
      return absl::NotFoundError(absl::StrCat("adapter directory ", directory, " has no ", file,
                                              " (a PEFT LoRA adapter is adapter_config.json and adapter_model.safetensors)"));
    }
  }
  ASSIGN_OR_RETURN(const OpenedVersion opened, registry.Open(base));
  const std::string base_label = absl::StrCat(opened.model_name, "@", opened.version);
  if (opened.manifest.adapter_of) {
    return absl::FailedPreconditionError(absl::StrCat("--adapter-of ", base, ": ", base_label,
                                                      " is itself an adapter; name the full version it applies to (",
                                                      opened.manifest.adapter_of->model, "@",
                                                      opened.manifest.adapter_of->version, ")"));
  }
  if (opened.model_name == name) {
    return absl::InvalidArgumentError(absl::StrCat("an adapter cannot be a version of its own base model ", name,
                                                   ": give it a name of its own"));
  }
  ASSIGN_OR_RETURN(const Checkpoint checkpoint, LoadCheckpointForServing(opened.directory));
  absl::StatusOr<std::shared_ptr<const LowRankAdapter>> adapter =
      ReadLoraAdapter(*checkpoint.model, directory, absl::StrCat(name, "@new"));
  if (!adapter.ok()) {
    return absl::Status(adapter.status().code(), absl::StrCat("adapter ", directory, " does not fit ", base_label, ": ",
                                                              adapter.status().message()));
  }
  ImportResult result;
  result.adapter_of = base_label;
  result.model_type = checkpoint.model->config().model_type;
  result.tokenizer = checkpoint.tokenizer->file_name();
  for (const LowRankAdapter::Update& update : (*adapter)->updates) {
    if (!update.a.defined()) continue;
    ASSIGN_OR_RETURN(const bool finite, CallTorch("checking the adapter", [&] {
                       return at::isfinite(update.a).all().item<bool>() && at::isfinite(update.b).all().item<bool>();
                     }));
    if (!finite) {
      return absl::DataLossError(absl::StrCat("adapter ", directory, ": ", kAdapterWeightsFile,
                                              " holds values that are not finite (NaN or infinite)"));
    }
    result.parameters += update.a.numel() + update.b.numel();
  }

  ASSIGN_OR_RETURN(const std::string task_json, ReadTask(name, directory, options, result));
  result.files = {kAdapterConfigFile, kAdapterWeightsFile};
  ASSIGN_OR_RETURN(const std::unique_ptr<StagingDirectory> staging, StageFiles(directory, task_json, options, result));

  ManifestInfo info;
  info.base_model = base_label;
  info.adapter_of = AdapterBase{opened.model_name, opened.version};
  info.extra = {{"imported_from", fs::absolute(directory, error).lexically_normal().string()},
                {"model_type", result.model_type},
                {"adapter_parameters", result.parameters},
                {"task", TaskOrigin(result)}};
  ASSIGN_OR_RETURN(result.published, registry.Publish(name, staging->path(), info));
  return result;
}

}  // namespace promptintern
