// The architecture of a Llama-family decoder, read from and written to a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

struct ModelConfig {
  int64_t hidden_size = 64;
  int64_t intermediate_size = 172;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  int64_t vocab_size = 512;
  int64_t max_position_embeddings = 512;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  // Standard deviation of the normal init of a model made from scratch.
  double initializer_range = 0.02;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Checks the invariants the model relies on (divisibility, positive sizes, even head_dim).
  absl::Status Validate() const;
  int64_t NumParameters() const;
};

// Parses config.json text. Fields the Llama forward pass depends on but this implementation does
// not support (a hidden_act other than silu, rope_scaling, attention or MLP biases) are errors, so
// an unsupported checkpoint is refused instead of silently producing wrong text.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& source);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace promptintern
