// LoRA adapters (Hu et al., 2021) on the attention and MLP projections, stored in the PEFT layout:
//   adapter_config.json + adapter_model.safetensors with tensors named
//   base_model.model.<module>.lora_A.weight [rank, in] and .lora_B.weight [out, rank].
// The update is (alpha / rank) * B A; B starts at zero so an attached adapter changes nothing
// until it is trained.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/architecture.h"
#include "core/util/filenames.h"

namespace promptintern {

class DecoderModel;
struct LowRankAdapter;

struct LoraConfig {
  int rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Short module names as PEFT writes them (core/model/architecture.h ProjectionNames).
  std::vector<std::string> target_modules = ProjectionShortNames();
  absl::Status Validate() const;
};

// Adds fresh adapters (A ~ Kaiming-uniform, B = 0; deterministic by seed) to the target projections.
absl::Status AttachLora(DecoderModel& model, const LoraConfig& config, uint64_t seed);

// Folds every adapter into its base weight (W += scale * B A) and removes the adapters.
absl::Status MergeLora(DecoderModel& model);

// The adapter tensors, for an optimizer; empty when no adapter is attached.
std::vector<at::Tensor> LoraParameters(DecoderModel& model);

absl::Status SaveLoraAdapter(DecoderModel& model, const LoraConfig& config, const std::string& base_model,
                             const std::string& directory);
// Reads adapter_config.json and attaches the saved adapters to `model`.
absl::StatusOr<LoraConfig> LoadLoraAdapter(DecoderModel& model, const std::string& directory);

// Reads a saved adapter without attaching it, checked against `base` (every tensor present, of
// the rank and the base's shapes, nothing extra), for serving many adapters over one base.
// `key` names it (e.g. its registry name@version).
absl::StatusOr<std::shared_ptr<const LowRankAdapter>> ReadLoraAdapter(const DecoderModel& base,
                                                                      const std::string& directory,
                                                                      const std::string& key);

}  // namespace promptintern
