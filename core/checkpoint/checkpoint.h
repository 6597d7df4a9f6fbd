// Model checkpoints in the Hugging Face layout:
//   config.json, model.safetensors (or model.safetensors.index.json + shards), the tokenizer's files.
// Loading checks the weights against the config one by one (names, shapes, nothing missing,
// nothing extra) and refuses the checkpoint with the offending tensor named.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/decoder.h"
#include "core/safetensors/safetensors.h"
#include "core/util/filenames.h"

namespace promptintern {

class Tokenizer;

// Reads one safetensors file's tensors as float32 (F16 and BF16 are widened exactly).
absl::StatusOr<std::map<std::string, at::Tensor>> ReadSafetensorsAsFloat(const std::string& path);

// config.json + weights of `directory`, with the matrices held as `storage` (float32 for training).
absl::StatusOr<std::unique_ptr<DecoderModel>> LoadModel(const std::string& directory,
                                                        WeightStorage storage = WeightStorage::kFloat32);

// The weight files of the checkpoint in `directory`, by name: model.safetensors, or
// model.safetensors.index.json followed by every shard it names. NOT_FOUND when it has neither,
// DATA_LOSS for an index that is not one.
absl::StatusOr<std::vector<std::string>> WeightFileNames(const std::string& directory);

// The storage the checkpoint's weights are in (the dtype of its embeddings).
absl::StatusOr<WeightStorage> CheckpointStorage(const std::string& directory);

// The model of `directory` in its serving form (DecoderModel::PackForServing): projections and LM
// head packed as `weights` for the serving kernels (int8: weight-only, one scale per block of 32
// inputs), with q/k/v and gate/up fused. Without `weights`: a float32 checkpoint is packed as f32;
// a 16-bit one is served as before, unpacked, its weights widened exactly into float32 arithmetic
// (the bf16 kernels round decode activations to bfloat16: ask for it with kBF16). The tensors are
// held in the checkpoint's 16-bit form where that is exact (a 16-bit checkpoint, or bf16
// serving), about half the resident memory of float32; activations and accumulation are float32.
// A packed model comes back with its unpacked projection and LM head tensors released
// (DecoderModel::ReleaseUnpackedWeights): it serves, and adapters check their shapes against it,
// but it cannot be trained or saved.
absl::StatusOr<std::unique_ptr<DecoderModel>> LoadModelForServing(const std::string& directory,
                                                                  std::optional<WeightFormat> weights = std::nullopt);

// A checkpoint's model with the tokenizer it ships, as the pipeline, the inference service and
// the CLI use them: the pair is checked to belong together (MatchTokenizer) and the model's
// generation stops at the tokenizer's EOS set as well as config.json's.
struct Checkpoint {
  std::unique_ptr<DecoderModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};
absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& directory,
                                          WeightStorage storage = WeightStorage::kFloat32);
// LoadCheckpoint with the model as LoadModelForServing holds it (`weights` as there).
absl::StatusOr<Checkpoint> LoadCheckpointForServing(const std::string& directory,
                                                    std::optional<WeightFormat> weights = std::nullopt);

// Checks that `tokenizer` can drive a model of `config` and adds its EOS ids to
// config->extra_eos_token_ids. The model's vocabulary must hold the tokenizer model's every id
// (Tokenizer::model_vocab_size) and its prompt prefix, EOS and pad ids; added tokens beyond the
// vocabulary are tolerated (a text that spells one is refused when the model runs).
// INVALID_ARGUMENT naming both sizes or the offending id otherwise.
absl::Status MatchTokenizer(const Tokenizer& tokenizer, ModelConfig* config);

struct SaveOptions {
  DType dtype = DType::kF32;
  // Above this many bytes of weights, write shards plus model.safetensors.index.json. 0: one file.
  uint64_t max_shard_bytes = 0;
  std::map<std::string, std::string> metadata;
};

// Writes config.json and the weights (and the tokenizer's files when given) into `directory`.
absl::Status SaveModel(const DecoderModel& model, const Tokenizer* tokenizer, const std::string& directory,
                       const SaveOptions& options = {});

// Tensors (float32, any shape) to a safetensors file in `dtype`.
absl::Status WriteTensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors, DType dtype,
                          const std::map<std::string, std::string>& metadata);

}  // namespace promptintern
