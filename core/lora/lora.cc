#include "core/lora/lora.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/checkpoint/checkpoint.h"
#include "core/model/decoder.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr char kPeftPrefix[] = "base_model.model.";

const std::set<std::string>& KnownModules() {
  static const auto* modules = [] {
    const std::vector<std::string> names = ProjectionShortNames();
    return new std::set<std::string>(names.begin(), names.end());
  }();
  return *modules;
}

std::string ShortName(const std::string& module_path) { return module_path.substr(module_path.rfind('.') + 1); }

bool IsTarget(const LoraConfig& config, const std::string& module_path) {
  const std::string name = ShortName(module_path);
  return std::find(config.target_modules.begin(), config.target_modules.end(), name) != config.target_modules.end();
}

}  // namespace

absl::Status LoraConfig::Validate() const {
  if (rank <= 0) return absl::InvalidArgumentError(absl::StrCat("lora.rank ", rank, " must be positive"));
  if (!(alpha > 0)) return absl::InvalidArgumentError("lora.alpha must be positive");
  if (!(dropout >= 0 && dropout < 1)) return absl::InvalidArgumentError("lora.dropout must be in [0, 1)");
  if (target_modules.empty()) return absl::InvalidArgumentError("lora.target_modules is empty");
  for (const std::string& module : target_modules) {
    if (KnownModules().count(module) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("lora.target_modules: unknown module '", module, "' (known: ",
                                                     absl::StrJoin(KnownModules(), ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status AttachLora(DecoderModel& model, const LoraConfig& config, uint64_t seed) {
  RETURN_IF_ERROR(config.Validate());
  return CallTorchVoid("attaching LoRA adapters", [&] {
    at::NoGradGuard no_grad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (auto& [path, projection] : model.NamedProjections()) {
      if (!IsTarget(config, path)) continue;
      const int64_t in = projection->weight.size(1);
      const int64_t out = projection->weight.size(0);
      // Kaiming-uniform with a = sqrt(5), as torch.nn.Linear and PEFT initialise lora_A.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      projection->lora_a = at::empty({config.rank, in}).uniform_(-bound, bound, generator);
      projection->lora_b = at::zeros({out, config.rank});
      projection->lora_scale = config.alpha / config.rank;
      projection->lora_dropout = config.dropout;
    }
  });
}

absl::Status MergeLora(DecoderModel& model) {
  return CallTorchVoid("merging LoRA adapters", [&] {
    at::NoGradGuard no_grad;
    for (auto& [path, projection] : model.NamedProjections()) {
      if (!projection->has_lora()) continue;
      projection->weight.add_(at::matmul(projection->lora_b, projection->lora_a), projection->lora_scale);
      projection->lora_a = at::Tensor();
      projection->lora_b = at::Tensor();
    }
  });
}

std::vector<at::Tensor> LoraParameters(DecoderModel& model) {
  std::vector<at::Tensor> parameters;
  for (auto& [path, projection] : model.NamedProjections()) {
    if (!projection->has_lora()) continue;
    parameters.push_back(projection->lora_a);
    parameters.push_back(projection->lora_b);
  }
  return parameters;
}

absl::Status SaveLoraAdapter(DecoderModel& model, const LoraConfig& config, const std::string& base_model,
                             const std::string& directory) {
  std::map<std::string, at::Tensor> tensors;
  for (auto& [path, projection] : model.NamedProjections()) {
    if (!projection->has_lora()) continue;
    tensors.emplace(absl::StrCat(kPeftPrefix, path, ".lora_A.weight"), projection->lora_a);
    tensors.emplace(absl::StrCat(kPeftPrefix, path, ".lora_B.weight"), projection->lora_b);
  }
  if (tensors.empty()) return absl::FailedPreconditionError("the model has no LoRA adapters to save");
  RETURN_IF_ERROR(MakeDirectories(directory));
  RETURN_IF_ERROR(WriteTensors(JoinPath(directory, kAdapterWeightsFile), tensors, DType::kF32, {{"format", "pt"}}));
  const json adapter_config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"r", config.rank},
      {"lora_alpha", config.alpha},
      {"lora_dropout", config.dropout},
      {"target_modules", config.target_modules},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"base_model_name_or_path", base_model},
  };
  return WriteFileAtomic(JoinPath(directory, kAdapterConfigFile), adapter_config.dump(2) + "\n");
}

namespace {

absl::StatusOr<LoraConfig> ReadAdapterConfig(const std::string& directory) {
  const std::string config_path = JoinPath(directory, kAdapterConfigFile);
  ASSIGN_OR_RETURN(std::string text, ReadFile(config_path));
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto error = [&](absl::string_view what) { return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", what)); };
  if (root.is_discarded() || !root.is_object()) return error("not a JSON object");
  if (!root.contains("peft_type") || root["peft_type"] != "LORA") return error("peft_type is not \"LORA\"");
  if (!root.contains("r") || !root["r"].is_number_integer()) return error("\"r\" must be an integer");
  if (!root.contains("lora_alpha") || !root["lora_alpha"].is_number()) return error("\"lora_alpha\" must be a number");
  if (!root.contains("target_modules") || !root["target_modules"].is_array()) {
    return error("\"target_modules\" must be a list of module names");
  }
  if (root.contains("fan_in_fan_out") && root["fan_in_fan_out"] == true) {
    return error("fan_in_fan_out adapters are not supported");
  }
  LoraConfig config;
  config.rank = root["r"].get<int>();
  config.alpha = root["lora_alpha"].get<double>();
  config.dropout = root.contains("lora_dropout") && root["lora_dropout"].is_number() ? root["lora_dropout"].get<double>() : 0.0;
  config.target_modules.clear();
  for (const json& module : root["target_modules"]) {
    if (!module.is_string()) return error("\"target_modules\" must be a list of module names");
    config.target_modules.push_back(module.get<std::string>());
  }
  absl::Status valid = config.Validate();
  if (!valid.ok()) return error(valid.message());
  return config;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const LowRankAdapter>> ReadLoraAdapter(const DecoderModel& base,
                                                                      const std::string& directory,
                                                                      const std::string& key) {
  ASSIGN_OR_RETURN(const LoraConfig config, ReadAdapterConfig(directory));
  const std::string weights_path = JoinPath(directory, kAdapterWeightsFile);
  ASSIGN_OR_RETURN(auto tensors, ReadSafetensorsAsFloat(weights_path));
  auto adapter = std::make_shared<LowRankAdapter>();
  adapter->key = key;
  adapter->scale = config.alpha / config.rank;
  adapter->updates.resize(base.layers().size() * kProjectionsPerLayer);
  std::set<std::string> used;
  for (size_t layer = 0; layer < base.layers().size(); ++layer) {
    const DecoderLayer& weights = base.layers()[layer];
    const Projection* in_order[] = {&weights.q_proj,    &weights.k_proj,  &weights.v_proj,   &weights.o_proj,
                                    &weights.gate_proj, &weights.up_proj, &weights.down_proj};
    for (int slot = 0; slot < kProjectionsPerLayer; ++slot) {
      const std::string path = absl::StrCat("model.layers.", layer, ".", ProjectionNames()[slot].path);
      if (!IsTarget(config, path)) continue;
      const std::string a_name = absl::StrCat(kPeftPrefix, path, ".lora_A.weight");
      const std::string b_name = absl::StrCat(kPeftPrefix, path, ".lora_B.weight");
      const auto a = tensors.find(a_name);
      const auto b = tensors.find(b_name);
      if (a == tensors.end() || b == tensors.end()) {
        return absl::DataLossError(absl::StrCat(weights_path, " is missing '", a == tensors.end() ? a_name : b_name, "'"));
      }
      const Projection& projection = *in_order[slot];
      const std::vector<int64_t> a_shape = {config.rank, projection.weight.size(1)};
      const std::vector<int64_t> b_shape = {projection.weight.size(0), config.rank};
      if (a->second.sizes().vec() != a_shape || b->second.sizes().vec() != b_shape) {
        return absl::DataLossError(absl::StrCat(weights_path, ": adapter of ", path, " does not match rank ",
                                                config.rank, " and the base weight's shape"));
      }
      used.insert(a_name);
      used.insert(b_name);
      adapter->updates[layer * kProjectionsPerLayer + slot] = {a->second, b->second};
    }
  }
  for (const auto& [name, tensor] : tensors) {
    if (used.count(name) == 0) {
      return absl::DataLossError(absl::StrCat(weights_path, " has unexpected tensor '", name, "'"));
    }
  }
  return std::shared_ptr<const LowRankAdapter>(std::move(adapter));
}

absl::StatusOr<LoraConfig> LoadLoraAdapter(DecoderModel& model, const std::string& directory) {
  ASSIGN_OR_RETURN(const LoraConfig config, ReadAdapterConfig(directory));
  ASSIGN_OR_RETURN(std::shared_ptr<const LowRankAdapter> adapter, ReadLoraAdapter(model, directory, directory));
  auto projections = model.NamedProjections();
  for (size_t i = 0; i < projections.size(); ++i) {
    const LowRankAdapter::Update& update = adapter->updates[i];
    if (!update.a.defined()) continue;
    Projection* projection = projections[i].second;
    projection->lora_a = update.a;
    projection->lora_b = update.b;
    projection->lora_scale = adapter->scale;
    projection->lora_dropout = config.dropout;
  }
  return config;
}

}  // namespace promptintern
