#include "core/model/config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

absl::Status ConfigError(const std::string& source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("model config ", source, ": ", what));
}

absl::Status ReadPositiveInt(const json& root, const char* key, const std::string& source, int64_t* out,
                             bool required) {
  if (!root.contains(key) || root[key].is_null()) {
    if (required) return ConfigError(source, absl::StrCat("missing required field \"", key, "\""));
    return absl::OkStatus();
  }
  if (!root[key].is_number_integer() || root[key].get<int64_t>() <= 0) {
    return ConfigError(source, absl::StrCat("\"", key, "\" must be a positive integer"));
  }
  *out = root[key].get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadPositiveNumber(const json& root, const char* key, const std::string& source, double* out) {
  if (!root.contains(key) || root[key].is_null()) return absl::OkStatus();
  if (!root[key].is_number() || root[key].get<double>() <= 0) {
    return ConfigError(source, absl::StrCat("\"", key, "\" must be a positive number"));
  }
  *out = root[key].get<double>();
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelConfig::Validate() const {
  auto error = [](absl::string_view what) { return absl::InvalidArgumentError(absl::StrCat("model config: ", what)); };
  if (hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      num_key_value_heads <= 0 || vocab_size <= 0 || max_position_embeddings <= 0) {
    return error("all sizes must be positive");
  }
  if (hidden_size % num_attention_heads != 0) {
    return error(absl::StrCat("hidden_size ", hidden_size, " is not divisible by num_attention_heads ",
                              num_attention_heads));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return error(absl::StrCat("num_attention_heads ", num_attention_heads,
                              " is not divisible by num_key_value_heads ", num_key_value_heads));
  }
  if (head_dim() % 2 != 0) return error(absl::StrCat("head_dim ", head_dim(), " must be even for rotary embeddings"));
  if (bos_token_id < 0 || bos_token_id >= vocab_size || eos_token_id < 0 || eos_token_id >= vocab_size) {
    return error("bos_token_id and eos_token_id must be inside the vocabulary");
  }
  return absl::OkStatus();
}

int64_t ModelConfig::NumParameters() const {
  const int64_t kv_dim = num_key_value_heads * head_dim();
  const int64_t per_layer = 2 * hidden_size * hidden_size + 2 * hidden_size * kv_dim +
                            3 * hidden_size * intermediate_size + 2 * hidden_size;
  const int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return embeddings + num_hidden_layers * per_layer + hidden_size;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source) {
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return ConfigError(source, "not valid JSON");
  if (!root.is_object()) return ConfigError(source, "not a JSON object");

  if (root.contains("model_type") && root["model_type"].is_string()) {
    const std::string type = root["model_type"].get<std::string>();
    if (type != "llama" && type != "mistral") {
      return ConfigError(source, absl::StrCat("model_type \"", type, "\" is not a Llama-architecture model"));
    }
  }
  if (root.contains("hidden_act") && root["hidden_act"] != "silu") {
    return ConfigError(source, absl::StrCat("hidden_act ", root["hidden_act"].dump(), " is not supported (only silu)"));
  }
  if (root.contains("rope_scaling") && !root["rope_scaling"].is_null()) {
    return ConfigError(source, "rope_scaling is not supported");
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    if (root.contains(bias) && root[bias] == true) {
      return ConfigError(source, absl::StrCat(bias, " = true is not supported"));
    }
  }

  ModelConfig config;
  RETURN_IF_ERROR(ReadPositiveInt(root, "hidden_size", source, &config.hidden_size, true));
  RETURN_IF_ERROR(ReadPositiveInt(root, "intermediate_size", source, &config.intermediate_size, true));
  RETURN_IF_ERROR(ReadPositiveInt(root, "num_hidden_layers", source, &config.num_hidden_layers, true));
  RETURN_IF_ERROR(ReadPositiveInt(root, "num_attention_heads", source, &config.num_attention_heads, true));
  config.num_key_value_heads = config.num_attention_heads;
  RETURN_IF_ERROR(ReadPositiveInt(root, "num_key_value_heads", source, &config.num_key_value_heads, false));
  RETURN_IF_ERROR(ReadPositiveInt(root, "vocab_size", source, &config.vocab_size, true));
  RETURN_IF_ERROR(ReadPositiveInt(root, "max_position_embeddings", source, &config.max_position_embeddings, false));
  RETURN_IF_ERROR(ReadPositiveNumber(root, "rms_norm_eps", source, &config.rms_norm_eps));
  RETURN_IF_ERROR(ReadPositiveNumber(root, "rope_theta", source, &config.rope_theta));
  RETURN_IF_ERROR(ReadPositiveNumber(root, "initializer_range", source, &config.initializer_range));
  if (root.contains("tie_word_embeddings")) {
    if (!root["tie_word_embeddings"].is_boolean()) return ConfigError(source, "\"tie_word_embeddings\" must be a boolean");
    config.tie_word_embeddings = root["tie_word_embeddings"].get<bool>();
  }
  for (auto [key, field] : {std::pair{"bos_token_id", &config.bos_token_id}, std::pair{"eos_token_id", &config.eos_token_id}}) {
    if (root.contains(key) && !root[key].is_null()) {
      if (!root[key].is_number_integer()) return ConfigError(source, absl::StrCat("\"", key, "\" must be an integer"));
      *field = root[key].get<int64_t>();
    }
  }
  absl::Status valid = config.Validate();
  if (!valid.ok()) return ConfigError(source, valid.message());
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& config) {
  json root = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", config.hidden_size},
      {"intermediate_size", config.intermediate_size},
      {"num_hidden_layers", config.num_hidden_layers},
      {"num_attention_heads", config.num_attention_heads},
      {"num_key_value_heads", config.num_key_value_heads},
      {"vocab_size", config.vocab_size},
      {"max_position_embeddings", config.max_position_embeddings},
      {"rms_norm_eps", config.rms_norm_eps},
      {"rope_theta", config.rope_theta},
      {"tie_word_embeddings", config.tie_word_embeddings},
      {"hidden_act", "silu"},
      {"bos_token_id", config.bos_token_id},
      {"eos_token_id", config.eos_token_id},
      {"initializer_range", config.initializer_range},
      {"torch_dtype", "float32"},
  };
  return root.dump(2) + "\n";
}

}  // namespace promptintern
