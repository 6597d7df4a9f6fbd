// The decoder families this project loads, as data rather than as copies of code (the way
// llama.cpp's llama-arch maps an architecture to tensor names and options): one row per Hugging
// Face `model_type`, saying which optional parts the shared decoder turns on and what each layer
// tensor is called in that family's checkpoints. The decoder (core/model/decoder), the checkpoint
// reader, LoRA and the job spec's target list all read this one table.
//
// Every family here is a pre-norm transformer decoder with rotary position embeddings,
// grouped-query attention and a gated MLP; they differ only in the rows' options:
//
//   model_type   q/k/v bias  q/k norm  norms per layer  norm weight  embeddings  gate act.  sliding window
//   llama        config      -         2                w            x           silu       -
//   mistral      -           -         2                w            x           silu       every layer
//   qwen2        yes         -         2                w            x           silu       layers >= max_window_layers, if use_sliding_window
//   qwen3        config      yes       2                w            x           silu       layers >= max_window_layers, if use_sliding_window
//   gemma3_text  config      yes       4                1 + w        x*sqrt(d)   gelu_tanh  layer_types / sliding_window_pattern
//
// Note the name trap this table exists for: `post_attention_layernorm` is the norm *before the
// MLP* in Llama-style families but the norm applied to the attention *output* in Gemma 3.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// RMSNorm multiplies the normalized input by w, or by (1 + w) in Gemma (whose stored norm weights
// are offsets from one).
enum class NormWeighting { kWeight, kOnePlusWeight };

// The activation of the MLP's gate: SwiGLU (silu) or GeGLU with the tanh approximation of GELU.
enum class Activation { kSilu, kGeluTanh };

// Which layers attend through a sliding window when the config sets one.
enum class SlidingWindowLayers {
  kNone,            // the family has no sliding-window attention
  kAll,             // every layer (Mistral)
  kAboveMaxWindow,  // layers >= max_window_layers, only when use_sliding_window is true (Qwen2/3)
  kLayerTypes,      // the config's layer_types list, or every layer but each Nth (Gemma 3)
};

// Checkpoint names of one layer's tensors, relative to "model.layers.N."; "" where the family has none.
struct LayerTensorNames {
  const char* attention_norm;         // before attention
  const char* attention_output_norm;  // on the attention output, before the residual add
  const char* mlp_norm;               // before the MLP
  const char* mlp_output_norm;        // on the MLP output, before the residual add
  const char* q_norm;                 // RMSNorm over head_dim of each query head, before RoPE
  const char* k_norm;
};

struct Architecture {
  const char* model_type;       // config.json "model_type"
  const char* class_name;       // config.json "architectures"[0], written back on save
  bool always_qkv_bias;         // q/k/v biases whatever the config says (Qwen2); else "attention_bias"
  bool default_tie_embeddings;  // "tie_word_embeddings" when the config omits it
  bool scale_embeddings;        // embeddings multiplied by sqrt(hidden_size)
  NormWeighting norm_weighting;
  Activation default_activation;
  const char* activation_key;   // the config key naming the activation
  SlidingWindowLayers sliding_window_layers;
  LayerTensorNames names;
};

// The projections of every family, as PEFT and the checkpoints name them (module
// model.layers.N.<path>), in the order the decoder applies them; ProjectionSlot indexes them.
enum ProjectionSlot { kQProj, kKProj, kVProj, kOProj, kGateProj, kUpProj, kDownProj, kProjectionsPerLayer };
struct ProjectionName {
  const char* short_name;  // "q_proj": what LoRA target_modules list
  const char* path;        // "self_attn.q_proj"
};
const std::vector<ProjectionName>& ProjectionNames();
// The short names alone, in the same order: the valid LoRA target_modules and their default.
std::vector<std::string> ProjectionShortNames();

// The row for `model_type`; INVALID_ARGUMENT naming the field and the supported types otherwise,
// with the reason for types that are known but deliberately unsupported (Phi-3's fused qkv, the
// multimodal gemma3 with its vision tower, ...).
absl::StatusOr<const Architecture*> FindArchitecture(absl::string_view model_type);
const std::vector<Architecture>& Architectures();

}  // namespace promptintern
