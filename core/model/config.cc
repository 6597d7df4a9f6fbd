#include "core/model/config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

// Reads one config.json; every error names the file and the key.
class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("model config ", source_, ": ", what));
  }

  bool Has(const char* key) const { return root_.contains(key) && !root_[key].is_null(); }
  const json& operator[](const char* key) const { return root_[key]; }

  absl::Status PositiveInt(const char* key, int64_t* out, bool required) const {
    if (!Has(key)) {
      return required ? Error(absl::StrCat("missing required field \"", key, "\"")) : absl::OkStatus();
    }
    if (!root_[key].is_number_integer() || root_[key].get<int64_t>() <= 0) {
      return Error(absl::StrCat("\"", key, "\" must be a positive integer"));
    }
    *out = root_[key].get<int64_t>();
    return absl::OkStatus();
  }

  absl::Status PositiveNumber(const char* key, double* out) const {
    if (!Has(key)) return absl::OkStatus();
    if (!root_[key].is_number() || !(root_[key].get<double>() > 0)) {
      return Error(absl::StrCat("\"", key, "\" must be a positive number"));
    }
    *out = root_[key].get<double>();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) const {
    if (!Has(key)) return absl::OkStatus();
    if (!root_[key].is_boolean()) return Error(absl::StrCat("\"", key, "\" must be a boolean"));
    *out = root_[key].get<bool>();
    return absl::OkStatus();
  }

  // An id, or null for "none" (-1).
  absl::Status TokenId(const char* key, int64_t* out) const {
    if (!root_.contains(key)) return absl::OkStatus();
    if (root_[key].is_null()) {
      *out = -1;
      return absl::OkStatus();
    }
    if (!root_[key].is_number_integer() || root_[key].get<int64_t>() < 0) {
      return Error(absl::StrCat("\"", key, "\" must be a non-negative integer or null"));
    }
    *out = root_[key].get<int64_t>();
    return absl::OkStatus();
  }

 private:
  const json& root_;
  const std::string& source_;
};

absl::Status ReadActivation(const ConfigReader& reader, const Architecture& architecture, Activation* out) {
  const char* key = architecture.activation_key;
  *out = architecture.default_activation;
  if (!reader.Has(key)) return absl::OkStatus();
  if (!reader[key].is_string()) return reader.Error(absl::StrCat("\"", key, "\" must be a string"));
  const std::string name = reader[key].get<std::string>();
  if (name == "silu" || name == "swish") {
    *out = Activation::kSilu;
  } else if (name == "gelu_pytorch_tanh" || name == "gelu_new") {
    *out = Activation::kGeluTanh;
  } else {
    return reader.Error(absl::StrCat("\"", key, "\" \"", name,
                                     "\" is not supported (supported: silu, gelu_pytorch_tanh, gelu_new)"));
  }
  return absl::OkStatus();
}

absl::Status ReadRopeScaling(const ConfigReader& reader, RopeScaling* out) {
  if (!reader.Has("rope_scaling")) return absl::OkStatus();
  const json& scaling = reader["rope_scaling"];
  if (!scaling.is_object()) return reader.Error("\"rope_scaling\" must be an object or null");
  const char* type_key = scaling.contains("rope_type") ? "rope_type" : "type";
  if (!scaling.contains(type_key) || !scaling[type_key].is_string()) {
    return reader.Error("\"rope_scaling.rope_type\" must be a string");
  }
  const std::string type = scaling[type_key].get<std::string>();
  auto number = [&](const char* key, double* value) -> absl::Status {
    if (!scaling.contains(key) || !scaling[key].is_number() || !(scaling[key].get<double>() > 0)) {
      return reader.Error(absl::StrCat("\"rope_scaling.", key, "\" must be a positive number for rope_type ", type));
    }
    *value = scaling[key].get<double>();
    return absl::OkStatus();
  };
  if (type == "default") return absl::OkStatus();
  if (type == "linear") {
    out->type = RopeScalingType::kLinear;
    return number("factor", &out->factor);
  }
  if (type == "llama3") {
    out->type = RopeScalingType::kLlama3;
    RETURN_IF_ERROR(number("factor", &out->factor));
    RETURN_IF_ERROR(number("low_freq_factor", &out->low_freq_factor));
    RETURN_IF_ERROR(number("high_freq_factor", &out->high_freq_factor));
    double original = 0;
    RETURN_IF_ERROR(number("original_max_position_embeddings", &original));
    out->original_max_position_embeddings = static_cast<int64_t>(original);
    if (!(out->high_freq_factor > out->low_freq_factor)) {
      return reader.Error("\"rope_scaling.high_freq_factor\" must exceed low_freq_factor");
    }
    return absl::OkStatus();
  }
  return reader.Error(
      absl::StrCat("\"rope_scaling.rope_type\" \"", type, "\" is not supported (supported: default, linear, llama3)"));
}

// Which layers slide, from the family's rule or an explicit layer_types list.
absl::Status ReadSlidingWindow(const ConfigReader& reader, const Architecture& architecture, ModelConfig* config) {
  const int64_t layers = config->num_hidden_layers;
  int64_t window = 0;
  RETURN_IF_ERROR(reader.PositiveInt("sliding_window", &window, false));
  std::vector<bool> sliding(layers, false);
  switch (architecture.sliding_window_layers) {
    case SlidingWindowLayers::kNone:
      window = 0;
      break;
    case SlidingWindowLayers::kAll:
      sliding.assign(layers, window > 0);
      break;
    case SlidingWindowLayers::kAboveMaxWindow: {
      bool enabled = false;
      RETURN_IF_ERROR(reader.Bool("use_sliding_window", &enabled));
      int64_t max_window_layers = layers;
      RETURN_IF_ERROR(reader.PositiveInt("max_window_layers", &max_window_layers, false));
      // A sliding_window with use_sliding_window false is ignored, as Hugging Face does.
      if (!enabled) window = 0;
      for (int64_t i = 0; i < layers; ++i) sliding[i] = window > 0 && i >= max_window_layers;
      break;
    }
    case SlidingWindowLayers::kLayerTypes: {
      int64_t pattern = 6;
      RETURN_IF_ERROR(reader.PositiveInt("sliding_window_pattern", &pattern, false));
      for (int64_t i = 0; i < layers; ++i) sliding[i] = window > 0 && (i + 1) % pattern != 0;
      break;
    }
  }
  if (architecture.sliding_window_layers != SlidingWindowLayers::kNone && reader.Has("layer_types")) {
    const json& types = reader["layer_types"];
    if (!types.is_array() || static_cast<int64_t>(types.size()) != layers) {
      return reader.Error(absl::StrCat("\"layer_types\" must list one type for each of the ", layers, " layers"));
    }
    for (int64_t i = 0; i < layers; ++i) {
      if (types[i] == "sliding_attention") {
        if (window == 0) return reader.Error("\"layer_types\" has sliding_attention layers but no sliding_window");
        sliding[i] = true;
      } else if (types[i] == "full_attention") {
        sliding[i] = false;
      } else {
        return reader.Error(absl::StrCat("\"layer_types\"[", i, "] ", types[i].dump(),
                                         " is not sliding_attention or full_attention"));
      }
    }
  }
  config->sliding_window = window;
  if (std::find(sliding.begin(), sliding.end(), true) != sliding.end()) {
    config->sliding_layers = std::move(sliding);
  } else {
    config->sliding_layers.clear();
  }
  return absl::OkStatus();
}

}  // namespace

const Architecture& ModelConfig::architecture() const {
  auto found = FindArchitecture(model_type);
  // Validate() refuses unknown types, and every constructor path validates.
  return found.ok() ? **found : Architectures().front();
}

bool ModelConfig::is_sliding_layer(int64_t layer) const {
  return sliding_window > 0 && layer >= 0 && layer < static_cast<int64_t>(sliding_layers.size()) &&
         sliding_layers[layer];
}

bool ModelConfig::is_eos(int64_t token) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end() ||
         std::find(extra_eos_token_ids.begin(), extra_eos_token_ids.end(), token) != extra_eos_token_ids.end();
}

double ModelConfig::attention_divisor() const {
  return std::sqrt(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : static_cast<double>(head_dim()));
}

absl::Status ModelConfig::Validate() const {
  auto error = [](absl::string_view what) { return absl::InvalidArgumentError(absl::StrCat("model config: ", what)); };
  if (absl::Status known = FindArchitecture(model_type).status(); !known.ok()) return error(known.message());
  if (hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      num_key_value_heads <= 0 || vocab_size <= 0 || max_position_embeddings <= 0) {
    return error("all sizes must be positive");
  }
  if (explicit_head_dim == 0 && hidden_size % num_attention_heads != 0) {
    return error(absl::StrCat("hidden_size ", hidden_size, " is not divisible by num_attention_heads ",
                              num_attention_heads, " (and no head_dim is given)"));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return error(absl::StrCat("num_attention_heads ", num_attention_heads,
                              " is not divisible by num_key_value_heads ", num_key_value_heads));
  }
  if (head_dim() % 2 != 0) return error(absl::StrCat("head_dim ", head_dim(), " must be even for rotary embeddings"));
  if (bos_token_id < -1 || bos_token_id >= vocab_size) return error("bos_token_id must be inside the vocabulary");
  if (eos_token_ids.empty()) return error("eos_token_id is missing");
  for (int64_t eos : eos_token_ids) {
    if (eos < 0 || eos >= vocab_size) return error(absl::StrCat("eos_token_id ", eos, " is outside the vocabulary"));
  }
  for (int64_t eos : extra_eos_token_ids) {
    if (eos < 0 || eos >= vocab_size) {
      return error(absl::StrCat("the tokenizer's EOS id ", eos, " is outside the vocabulary of ", vocab_size));
    }
  }
  if (pad_token_id < -1 || pad_token_id >= vocab_size) return error("pad_token_id must be inside the vocabulary");
  if (!sliding_layers.empty() && static_cast<int64_t>(sliding_layers.size()) != num_hidden_layers) {
    return error("sliding_layers must have one entry per layer");
  }
  if (sliding_window < 0) return error("sliding_window must not be negative");
  return absl::OkStatus();
}

int64_t ModelConfig::NumParameters() const {
  const int64_t q_dim = num_attention_heads * head_dim();
  const int64_t kv_dim = num_key_value_heads * head_dim();
  const LayerTensorNames& names = architecture().names;
  int64_t norms = 0;
  for (const char* norm : {names.attention_norm, names.attention_output_norm, names.mlp_norm, names.mlp_output_norm}) {
    if (*norm != '\0') norms += hidden_size;
  }
  if (*names.q_norm != '\0') norms += 2 * head_dim();
  const int64_t biases = (qkv_bias ? q_dim + 2 * kv_dim : 0) + (o_bias ? hidden_size : 0);
  const int64_t per_layer = 2 * hidden_size * q_dim + 2 * hidden_size * kv_dim + 3 * hidden_size * intermediate_size +
                            norms + biases;
  const int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return embeddings + num_hidden_layers * per_layer + hidden_size;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  ConfigReader reader(root, source);
  if (root.is_discarded()) return reader.Error("not valid JSON");
  if (!root.is_object()) return reader.Error("not a JSON object");

  ModelConfig config;
  config.source_json = json_text;
  if (reader.Has("model_type")) {
    if (!root["model_type"].is_string()) return reader.Error("\"model_type\" must be a string");
    config.model_type = root["model_type"].get<std::string>();
  }
  absl::StatusOr<const Architecture*> found = FindArchitecture(config.model_type);
  if (!found.ok()) return reader.Error(found.status().message());
  const Architecture& architecture = **found;
  // The same model_type also names heads this decoder does not have (a classifier's score.weight).
  if (reader.Has("architectures")) {
    const json& classes = root["architectures"];
    if (!classes.is_array() || (!classes.empty() && !classes[0].is_string())) {
      return reader.Error("\"architectures\" must be a list of class names");
    }
    const std::string class_name = classes.empty() ? "" : classes[0].get<std::string>();
    if (!class_name.empty() && !absl::EndsWith(class_name, "ForCausalLM")) {
      return reader.Error(absl::StrCat("\"architectures\" \"", class_name,
                                       "\" is not supported: only causal language models (", architecture.class_name,
                                       ") are"));
    }
  }
  if (reader.Has("quantization_config")) {
    const json& quantization = root["quantization_config"];
    const std::string method = quantization.is_object() && quantization.contains("quant_method") &&
                                       quantization["quant_method"].is_string()
                                   ? quantization["quant_method"].get<std::string>()
                                   : "unknown";
    return reader.Error(absl::StrCat("\"quantization_config\" (", method,
                                     ") is not supported: quantized weights are not; use an F32, F16 or BF16 checkpoint"));
  }

  RETURN_IF_ERROR(ReadActivation(reader, architecture, &config.activation));
  RETURN_IF_ERROR(ReadRopeScaling(reader, &config.rope_scaling));
  bool mlp_bias = false;
  RETURN_IF_ERROR(reader.Bool("mlp_bias", &mlp_bias));
  if (mlp_bias) return reader.Error("\"mlp_bias\" = true is not supported");
  bool attention_bias = false;
  RETURN_IF_ERROR(reader.Bool("attention_bias", &attention_bias));
  config.qkv_bias = architecture.always_qkv_bias || attention_bias;
  config.o_bias = !architecture.always_qkv_bias && attention_bias;

  RETURN_IF_ERROR(reader.PositiveInt("hidden_size", &config.hidden_size, true));
  RETURN_IF_ERROR(reader.PositiveInt("intermediate_size", &config.intermediate_size, true));
  RETURN_IF_ERROR(reader.PositiveInt("num_hidden_layers", &config.num_hidden_layers, true));
  RETURN_IF_ERROR(reader.PositiveInt("num_attention_heads", &config.num_attention_heads, true));
  config.num_key_value_heads = config.num_attention_heads;
  RETURN_IF_ERROR(reader.PositiveInt("num_key_value_heads", &config.num_key_value_heads, false));
  RETURN_IF_ERROR(reader.PositiveInt("head_dim", &config.explicit_head_dim, false));
  RETURN_IF_ERROR(reader.PositiveInt("vocab_size", &config.vocab_size, true));
  RETURN_IF_ERROR(reader.PositiveInt("max_position_embeddings", &config.max_position_embeddings, false));
  RETURN_IF_ERROR(reader.PositiveNumber("rms_norm_eps", &config.rms_norm_eps));
  RETURN_IF_ERROR(reader.PositiveNumber("rope_theta", &config.rope_theta));
  RETURN_IF_ERROR(reader.PositiveNumber("rope_local_base_freq", &config.rope_local_theta));
  RETURN_IF_ERROR(reader.PositiveNumber("initializer_range", &config.initializer_range));
  RETURN_IF_ERROR(reader.PositiveNumber("query_pre_attn_scalar", &config.query_pre_attn_scalar));
  if (architecture.sliding_window_layers == SlidingWindowLayers::kLayerTypes && config.query_pre_attn_scalar == 0) {
    config.query_pre_attn_scalar = 256;  // Gemma 3's default
  }
  if (architecture.sliding_window_layers == SlidingWindowLayers::kLayerTypes && config.rope_local_theta == 0) {
    config.rope_local_theta = 10000.0;  // Gemma 3's default rope_local_base_freq
  }
  RETURN_IF_ERROR(reader.PositiveNumber("attn_logit_softcapping", &config.attn_logit_softcapping));
  RETURN_IF_ERROR(reader.PositiveNumber("final_logit_softcapping", &config.final_logit_softcapping));
  RETURN_IF_ERROR(ReadSlidingWindow(reader, architecture, &config));
  config.tie_word_embeddings = architecture.default_tie_embeddings;
  RETURN_IF_ERROR(reader.Bool("tie_word_embeddings", &config.tie_word_embeddings));

  RETURN_IF_ERROR(reader.TokenId("bos_token_id", &config.bos_token_id));
  RETURN_IF_ERROR(reader.TokenId("pad_token_id", &config.pad_token_id));
  if (root.contains("eos_token_id")) {
    const json& eos = root["eos_token_id"];
    std::vector<int64_t> ids;
    if (eos.is_number_integer()) {
      ids.push_back(eos.get<int64_t>());
    } else if (eos.is_array() && !eos.empty()) {
      for (const json& id : eos) {
        if (!id.is_number_integer()) return reader.Error("\"eos_token_id\" must be an integer or a list of integers");
        ids.push_back(id.get<int64_t>());
      }
    } else {
      return reader.Error("\"eos_token_id\" must be an integer or a non-empty list of integers");
    }
    config.eos_token_ids = std::move(ids);
  }
  if (reader.Has("torch_dtype")) {
    if (!root["torch_dtype"].is_string()) return reader.Error("\"torch_dtype\" must be a string");
    const std::string dtype = root["torch_dtype"].get<std::string>();
    if (dtype == "float32" || dtype == "bfloat16" || dtype == "float16") config.torch_dtype = dtype;
  }
  absl::Status valid = config.Validate();
  if (!valid.ok()) return reader.Error(valid.message());
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& config) {
  const Architecture& architecture = config.architecture();
  // Keys of the original file that are not modelled here (the sliding-window layout among them,
  // which this project never changes) are kept as they were.
  json root = json::parse(config.source_json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) root = json::object();
  root["architectures"] = {architecture.class_name};
  root["model_type"] = config.model_type;
  root["hidden_size"] = config.hidden_size;
  root["intermediate_size"] = config.intermediate_size;
  root["num_hidden_layers"] = config.num_hidden_layers;
  root["num_attention_heads"] = config.num_attention_heads;
  root["num_key_value_heads"] = config.num_key_value_heads;
  if (config.explicit_head_dim > 0) root["head_dim"] = config.explicit_head_dim;
  root["vocab_size"] = config.vocab_size;
  root["max_position_embeddings"] = config.max_position_embeddings;
  root["rms_norm_eps"] = config.rms_norm_eps;
  root["rope_theta"] = config.rope_theta;
  root["tie_word_embeddings"] = config.tie_word_embeddings;
  root[architecture.activation_key] = config.activation == Activation::kSilu ? "silu" : "gelu_pytorch_tanh";
  // Optional keys are written when they carry a value or the original file had them.
  auto optional = [&root](const char* key, bool present, json value) {
    if (present) {
      root[key] = std::move(value);
    } else if (root.contains(key)) {
      root[key] = nullptr;
    }
  };
  if (!architecture.always_qkv_bias && (config.o_bias || root.contains("attention_bias"))) {
    root["attention_bias"] = config.o_bias;
  }
  const RopeScaling& scaling = config.rope_scaling;
  switch (scaling.type) {
    case RopeScalingType::kNone: root["rope_scaling"] = nullptr; break;
    case RopeScalingType::kLinear: root["rope_scaling"] = {{"rope_type", "linear"}, {"factor", scaling.factor}}; break;
    case RopeScalingType::kLlama3:
      root["rope_scaling"] = {{"rope_type", "llama3"},
                              {"factor", scaling.factor},
                              {"low_freq_factor", scaling.low_freq_factor},
                              {"high_freq_factor", scaling.high_freq_factor},
                              {"original_max_position_embeddings", scaling.original_max_position_embeddings}};
      break;
  }
  optional("query_pre_attn_scalar", config.query_pre_attn_scalar > 0, config.query_pre_attn_scalar);
  optional("rope_local_base_freq", config.rope_local_theta > 0, config.rope_local_theta);
  optional("attn_logit_softcapping", config.attn_logit_softcapping > 0, config.attn_logit_softcapping);
  optional("final_logit_softcapping", config.final_logit_softcapping > 0, config.final_logit_softcapping);
  root["bos_token_id"] = config.bos_token_id >= 0 ? json(config.bos_token_id) : json();
  root["eos_token_id"] = config.eos_token_ids.size() == 1 ? json(config.eos_token_ids.front()) : json(config.eos_token_ids);
  optional("pad_token_id", config.pad_token_id >= 0, config.pad_token_id);
  root["initializer_range"] = config.initializer_range;
  root["torch_dtype"] = config.torch_dtype;
  return root.dump(2) + "\n";
}

}  // namespace promptintern
