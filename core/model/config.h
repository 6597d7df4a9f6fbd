// The shape and options of a decoder, read from and written to a Hugging Face config.json.
//
// Parsing goes through the architecture table (core/model/architecture.h): `model_type` picks the
// family (a config without one is read as llama), and each option is read from the key that
// family uses. Anything the decoder does not implement is refused with the field named (an
// unknown model_type, a rope_scaling type other than default / linear / llama3, an activation
// other than silu / gelu_pytorch_tanh, MLP biases, ...), so an unsupported checkpoint never
// silently produces wrong text. Saving writes the original config.json back with the modelled
// fields set, so a fine-tuned Qwen3 is still a Qwen3 checkpoint that Hugging Face tools load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/architecture.h"

namespace promptintern {

enum class RopeScalingType { kNone, kLinear, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type = "llama";
  int64_t hidden_size = 64;
  int64_t intermediate_size = 172;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  // 0: hidden_size / num_attention_heads. Qwen3 and Gemma 3 set it independently.
  int64_t explicit_head_dim = 0;
  int64_t vocab_size = 512;
  int64_t max_position_embeddings = 512;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  // Rope base of sliding-window layers (Gemma 3's rope_local_base_freq); 0: rope_theta.
  double rope_local_theta = 0.0;
  // Applies to the rope_theta tables (the global layers).
  RopeScaling rope_scaling;
  Activation activation = Activation::kSilu;
  bool qkv_bias = false;
  bool o_bias = false;
  // A query at position p sees keys p - sliding_window + 1 .. p on sliding layers; 0: no window.
  int64_t sliding_window = 0;
  // One flag per layer (empty: no sliding layers).
  std::vector<bool> sliding_layers;
  // Attention scores are scaled by query_pre_attn_scalar^-1/2 (Gemma 3); 0: head_dim^-1/2.
  double query_pre_attn_scalar = 0.0;
  // tanh soft-capping of attention scores / final logits; 0: none.
  double attn_logit_softcapping = 0.0;
  double final_logit_softcapping = 0.0;
  bool tie_word_embeddings = false;
  // -1: the model has no BOS (Qwen).
  int64_t bos_token_id = 1;
  // config.json's eos_token_id (Llama 3 and Gemma 3 list several); what SaveModel writes back.
  std::vector<int64_t> eos_token_ids = {2};
  // More ids that end generation, not part of config.json: the EOS set of the checkpoint's
  // tokenizer (tokenizer_config.json's eos_token, generation_config.json's eos_token_id, which
  // Hugging Face generate uses and which may differ from config.json's). LoadCheckpoint fills it.
  std::vector<int64_t> extra_eos_token_ids;
  int64_t pad_token_id = -1;
  // Standard deviation of the normal init of a model made from scratch.
  double initializer_range = 0.02;
  // "float32", "bfloat16" or "float16": the dtype of the checkpoint's weights, written back.
  std::string torch_dtype = "float32";
  // The config.json this was read from ("" for a model made here): keys it has that are not
  // modelled above are written back unchanged.
  std::string source_json;

  const Architecture& architecture() const;
  int64_t head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : hidden_size / num_attention_heads; }
  bool is_sliding_layer(int64_t layer) const;
  // Whether `token` ends generation: one of eos_token_ids or extra_eos_token_ids.
  bool is_eos(int64_t token) const;
  // Divides q . k before the softmax: sqrt(query_pre_attn_scalar), or sqrt(head_dim).
  double attention_divisor() const;
  // Checks the invariants the model relies on (divisibility, positive sizes, even head_dim, ids
  // inside the vocabulary).
  absl::Status Validate() const;
  int64_t NumParameters() const;
};

// Parses config.json text. `source` names it in errors.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace promptintern
