#include "core/checkpoint/checkpoint.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

using nlohmann::json;

at::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
  }
  return at::kFloat;
}

// config.json's name for the dtype the weights are saved in.
const char* TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
  }
  return "float32";
}

constexpr char kEmbeddingsTensor[] = "model.embed_tokens.weight";
// Loading copies tensors from the mapped file in pieces of about this size.
constexpr uint64_t kLoadChunkBytes = 8 << 20;

std::string ShapeString(at::IntArrayRef shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

// A shard name from an index file must name a file in the checkpoint directory itself.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

// The weight files of a checkpoint directory, each with the tensor names the shard index maps
// to it (empty for a single model.safetensors, which may hold anything).
struct WeightFile {
  std::string path;
  std::set<std::string> indexed_names;
};

absl::StatusOr<std::vector<WeightFile>> ListWeightFiles(const std::string& directory) {
  const std::string single = JoinPath(directory, kWeightsFile);
  if (PathExists(single)) return std::vector<WeightFile>{{single, {}}};
  const std::string index_path = JoinPath(directory, kWeightsIndexFile);
  if (!PathExists(index_path)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", directory, " has neither ", kWeightsFile, " nor ",
                                            kWeightsIndexFile));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(index_path));
  const json index = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return absl::DataLossError(absl::StrCat(index_path, ": not a JSON object with a \"weight_map\" object"));
  }
  std::map<std::string, std::set<std::string>> names_by_shard;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it.value().is_string() || !IsPlainFileName(it.value().get<std::string>())) {
      return absl::DataLossError(absl::StrCat(index_path, ": tensor '", it.key(),
                                              "' maps to something that is not a file name in the checkpoint directory"));
    }
    names_by_shard[it.value().get<std::string>()].insert(it.key());
  }
  std::vector<WeightFile> files;
  for (auto& [shard, names] : names_by_shard) files.push_back({JoinPath(directory, shard), std::move(names)});
  if (files.empty()) return absl::DataLossError(absl::StrCat(index_path, ": the weight_map names no tensors"));
  return files;
}

// Checks every tensor of the checkpoint against the model (in the model's order, so the first
// problem named is the first weight that has one), then copies each straight from its
// memory-mapped file into the model's storage, converting the dtype on the way: no float32 copy
// of the whole checkpoint is ever held. Missing, extra or misshapen tensors are DATA_LOSS naming
// the tensor.
absl::Status AssignWeights(DecoderModel& model, const std::string& directory) {
  ASSIGN_OR_RETURN(std::vector<WeightFile> weight_files, ListWeightFiles(directory));
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> stored;
  for (const WeightFile& weight_file : weight_files) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(weight_file.path));
    const std::string shard = weight_file.path.substr(weight_file.path.rfind('/') + 1);
    for (const TensorInfo& info : file->tensors()) {
      if (!weight_file.indexed_names.empty() && weight_file.indexed_names.count(info.name) == 0) {
        return absl::DataLossError(absl::StrCat(shard, " holds tensor '", info.name, "' that ", kWeightsIndexFile,
                                                " does not map to it"));
      }
      stored[info.name] = {file.get(), &info};
    }
    for (const std::string& name : weight_file.indexed_names) {
      if (file->Find(name) == nullptr) {
        return absl::DataLossError(absl::StrCat(kWeightsIndexFile, " maps tensor '", name, "' to ", shard,
                                                ", which does not hold it"));
      }
    }
    files.push_back(std::move(file));
  }
  const auto weights = model.NamedWeights();
  std::set<std::string> expected;
  for (const auto& [name, weight] : weights) {
    expected.insert(name);
    const auto found = stored.find(name);
    if (found == stored.end()) {
      return absl::DataLossError(absl::StrCat("checkpoint ", directory, " is missing tensor '", name, "'"));
    }
    const std::vector<int64_t>& shape = found->second.second->shape;
    if (at::IntArrayRef(shape) != weight.sizes()) {
      return absl::DataLossError(absl::StrCat("checkpoint ", directory, ": tensor '", name, "' has shape ",
                                              ShapeString(shape), " but config.json implies ",
                                              ShapeString(weight.sizes())));
    }
  }
  for (const auto& [name, location] : stored) {
    // Tied checkpoints sometimes still carry lm_head.weight (a copy of the embeddings).
    if (name == "lm_head.weight" && model.config().tie_word_embeddings) continue;
    if (expected.count(name) == 0) {
      return absl::DataLossError(absl::StrCat("checkpoint ", directory, " has unexpected tensor '", name,
                                              "' that config.json does not account for"));
    }
  }
  return CallTorchVoid(absl::StrCat("assigning weights from ", directory), [&] {
    at::NoGradGuard no_grad;
    for (const auto& [name, weight] : weights) {
      const auto& [file, info] = stored.at(name);
      // A few rows at a time, each chunk's mapped pages dropped once copied: the peak is the
      // model plus one chunk, not the model plus the whole file's pages.
      const int64_t rows = info->shape.empty() ? 1 : info->shape.front();
      const uint64_t row_bytes = rows == 0 ? 0 : (info->data_end - info->data_begin) / static_cast<uint64_t>(rows);
      const int64_t chunk_rows = std::max<int64_t>(1, kLoadChunkBytes / std::max<uint64_t>(row_bytes, 1));
      std::vector<int64_t> chunk_shape = info->shape.empty() ? std::vector<int64_t>{1} : info->shape;
      const at::Tensor destination = weight.view(chunk_shape);
      for (int64_t row = 0; row < rows; row += chunk_rows) {
        chunk_shape.front() = std::min(chunk_rows, rows - row);
        const uint8_t* data = file->Data(*info) + static_cast<uint64_t>(row) * row_bytes;
        const at::Tensor view = at::from_blob(const_cast<uint8_t*>(data), chunk_shape,
                                              at::TensorOptions().dtype(ToScalarType(info->dtype)));
        destination.narrow(0, row, chunk_shape.front()).copy_(view);
        file->DropFromMemory(data, static_cast<uint64_t>(chunk_shape.front()) * row_bytes);
      }
    }
  });
}

absl::StatusOr<std::unique_ptr<DecoderModel>> LoadWeights(const std::string& directory, const ModelConfig& config,
                                                          WeightStorage storage) {
  ASSIGN_OR_RETURN(std::unique_ptr<DecoderModel> model, DecoderModel::Create(config, storage));
  RETURN_IF_ERROR(AssignWeights(*model, directory));
  return model;
}

}  // namespace

absl::StatusOr<std::map<std::string, at::Tensor>> ReadSafetensorsAsFloat(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  return CallTorch(absl::StrCat("reading ", path), [&] {
    std::map<std::string, at::Tensor> tensors;
    for (const TensorInfo& info : file->tensors()) {
      // from_blob views the mapping; the copy to float32 owns its memory once the file closes.
      const at::Tensor view = at::from_blob(const_cast<uint8_t*>(file->Data(info)), info.shape,
                                            at::TensorOptions().dtype(ToScalarType(info.dtype)));
      tensors.emplace(info.name, view.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true));
    }
    return tensors;
  });
}

absl::StatusOr<std::vector<std::string>> WeightFileNames(const std::string& directory) {
  ASSIGN_OR_RETURN(std::vector<WeightFile> files, ListWeightFiles(directory));
  std::vector<std::string> names;
  if (!PathExists(JoinPath(directory, kWeightsFile))) names.push_back(kWeightsIndexFile);
  for (const WeightFile& file : files) names.push_back(file.path.substr(file.path.rfind('/') + 1));
  return names;
}

absl::StatusOr<WeightStorage> CheckpointStorage(const std::string& directory) {
  ASSIGN_OR_RETURN(std::vector<WeightFile> files, ListWeightFiles(directory));
  for (const WeightFile& weight_file : files) {
    if (!weight_file.indexed_names.empty() && weight_file.indexed_names.count(kEmbeddingsTensor) == 0) continue;
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(weight_file.path));
    const TensorInfo* embeddings = file->Find(kEmbeddingsTensor);
    if (embeddings == nullptr) break;
    switch (embeddings->dtype) {
      case DType::kF32: return WeightStorage::kFloat32;
      case DType::kBF16: return WeightStorage::kBFloat16;
      case DType::kF16: return WeightStorage::kFloat16;
    }
  }
  return absl::DataLossError(absl::StrCat("checkpoint ", directory, " is missing tensor '", kEmbeddingsTensor, "'"));
}

absl::StatusOr<std::unique_ptr<DecoderModel>> LoadModel(const std::string& directory, WeightStorage storage) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(JoinPath(directory, kConfigFile)));
  return LoadWeights(directory, config, storage);
}

namespace {

// The model of `directory` (with `config`) as serving holds it: packed as `weights` for the
// serving kernels, or, without `weights`, a float32 checkpoint packed as f32 and a 16-bit one in
// its exact form (widened into float32 arithmetic).
absl::StatusOr<std::unique_ptr<DecoderModel>> LoadServingWeights(const std::string& directory, const ModelConfig& config,
                                                                 std::optional<WeightFormat> weights) {
  ASSIGN_OR_RETURN(WeightStorage storage, CheckpointStorage(directory));
  if (!weights.has_value()) {
    // The bf16 kernels would round the activations of decode rows to bfloat16 (packed_linear.h).
    if (storage != WeightStorage::kFloat32) return LoadWeights(directory, config, storage);
    weights = WeightFormat::kF32;
  }
  // bf16 serving holds the tensors in bfloat16 too (exact, half the memory); f32 serving widens a
  // 16-bit checkpoint; int8 and f16 quantize from the checkpoint's own values.
  if (*weights == WeightFormat::kBF16) storage = WeightStorage::kBFloat16;
  if (*weights == WeightFormat::kF32) storage = WeightStorage::kFloat32;
  ASSIGN_OR_RETURN(std::unique_ptr<DecoderModel> model, LoadWeights(directory, config, storage));
  RETURN_IF_ERROR(model->PackForServing({*weights}));
  // Serving reads only the packed forms: hold each weight once.
  RETURN_IF_ERROR(model->ReleaseUnpackedWeights());
  return model;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DecoderModel>> LoadModelForServing(const std::string& directory,
                                                                  std::optional<WeightFormat> weights) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(JoinPath(directory, kConfigFile)));
  return LoadServingWeights(directory, config, weights);
}

absl::Status MatchTokenizer(const Tokenizer& tokenizer, ModelConfig* config) {
  const int64_t vocab = config->vocab_size;
  if (tokenizer.model_vocab_size() > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer's ", tokenizer.file_name(), " has ",
                                                   tokenizer.model_vocab_size(), " tokens but config.json's vocab_size is ",
                                                   vocab, ": the tokenizer does not belong to this model"));
  }
  const auto check = [vocab](int id, absl::string_view what) {
    if (id < vocab) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer's ", what, " id ", id,
                                                   " is outside the model's vocabulary of ", vocab));
  };
  for (int id : tokenizer.prompt_prefix()) RETURN_IF_ERROR(check(id, "prompt prefix (BOS)"));
  for (int id : tokenizer.eos_ids()) RETURN_IF_ERROR(check(id, "EOS"));
  RETURN_IF_ERROR(check(tokenizer.pad_id(), "pad"));
  for (int id : tokenizer.eos_ids()) {
    if (!config->is_eos(id)) config->extra_eos_token_ids.push_back(id);
  }
  return absl::OkStatus();
}

namespace {

// config.json and the tokenizer, checked to belong together (MatchTokenizer).
absl::StatusOr<std::pair<ModelConfig, std::unique_ptr<Tokenizer>>> LoadConfigAndTokenizer(const std::string& directory) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(JoinPath(directory, kConfigFile)));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::LoadFromDirectory(directory));
  if (absl::Status matched = MatchTokenizer(*tokenizer, &config); !matched.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", directory, ": ", matched.message()));
  }
  return std::make_pair(std::move(config), std::move(tokenizer));
}

}  // namespace

absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& directory, WeightStorage storage) {
  ASSIGN_OR_RETURN(auto loaded, LoadConfigAndTokenizer(directory));
  Checkpoint checkpoint;
  checkpoint.tokenizer = std::move(loaded.second);
  ASSIGN_OR_RETURN(checkpoint.model, LoadWeights(directory, loaded.first, storage));
  return checkpoint;
}

absl::StatusOr<Checkpoint> LoadCheckpointForServing(const std::string& directory, std::optional<WeightFormat> weights) {
  ASSIGN_OR_RETURN(auto loaded, LoadConfigAndTokenizer(directory));
  Checkpoint checkpoint;
  checkpoint.tokenizer = std::move(loaded.second);
  ASSIGN_OR_RETURN(checkpoint.model, LoadServingWeights(directory, loaded.first, weights));
  return checkpoint;
}

absl::Status WriteTensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors, DType dtype,
                          const std::map<std::string, std::string>& metadata) {
  ASSIGN_OR_RETURN(auto converted, CallTorch("converting tensors for saving", [&] {
                     std::vector<std::pair<std::string, at::Tensor>> out;
                     for (const auto& [name, tensor] : tensors) {
                       out.emplace_back(name, tensor.detach().to(ToScalarType(dtype)).contiguous());
                     }
                     return out;
                   }));
  std::vector<TensorToWrite> to_write;
  for (const auto& [name, tensor] : converted) {
    to_write.push_back({name, dtype, tensor.sizes().vec(), tensor.data_ptr()});
  }
  return WriteSafetensors(path, to_write, metadata);
}

absl::Status SaveModel(const DecoderModel& model, const Tokenizer* tokenizer, const std::string& directory,
                       const SaveOptions& options) {
  if (model.weights_released()) {
    return absl::FailedPreconditionError(
        "the model released its unpacked weights after packing for serving; only its packed form is left to read");
  }
  RETURN_IF_ERROR(MakeDirectories(directory));
  std::map<std::string, std::string> metadata = options.metadata;
  metadata.emplace("format", "pt");
  const auto weights = model.NamedWeights();

  if (options.max_shard_bytes == 0) {
    std::map<std::string, at::Tensor> all(weights.begin(), weights.end());
    RETURN_IF_ERROR(WriteTensors(JoinPath(directory, kWeightsFile), all, options.dtype, metadata));
  } else {
    std::vector<std::map<std::string, at::Tensor>> shards(1);
    uint64_t shard_bytes = 0;
    uint64_t total_bytes = 0;
    for (const auto& [name, weight] : weights) {
      const uint64_t bytes = weight.numel() * DTypeSize(options.dtype);
      if (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes) {
        shards.emplace_back();
        shard_bytes = 0;
      }
      shards.back().emplace(name, weight);
      shard_bytes += bytes;
      total_bytes += bytes;
    }
    json weight_map = json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      const std::string shard_name = absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      RETURN_IF_ERROR(WriteTensors(JoinPath(directory, shard_name), shards[i], options.dtype, metadata));
      for (const auto& [name, tensor] : shards[i]) weight_map[name] = shard_name;
    }
    const json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(directory, kWeightsIndexFile), index.dump(2) + "\n"));
  }
  ModelConfig config = model.config();
  config.torch_dtype = TorchDTypeName(options.dtype);
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(directory, kConfigFile), ModelConfigToJson(config)));
  if (tokenizer != nullptr) {
    RETURN_IF_ERROR(tokenizer->Save(directory));
  }
  return absl::OkStatus();
}

}  // namespace promptintern
