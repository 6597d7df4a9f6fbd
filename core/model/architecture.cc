#include "core/model/architecture.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace promptintern {
namespace {

constexpr LayerTensorNames kLlamaNames = {
    /*attention_norm=*/"input_layernorm.weight",
    /*attention_output_norm=*/"",
    /*mlp_norm=*/"post_attention_layernorm.weight",
    /*mlp_output_norm=*/"",
    /*q_norm=*/"",
    /*k_norm=*/"",
};

constexpr LayerTensorNames kQwen3Names = {
    /*attention_norm=*/"input_layernorm.weight",
    /*attention_output_norm=*/"",
    /*mlp_norm=*/"post_attention_layernorm.weight",
    /*mlp_output_norm=*/"",
    /*q_norm=*/"self_attn.q_norm.weight",
    /*k_norm=*/"self_attn.k_norm.weight",
};

constexpr LayerTensorNames kGemma3Names = {
    /*attention_norm=*/"input_layernorm.weight",
    /*attention_output_norm=*/"post_attention_layernorm.weight",
    /*mlp_norm=*/"pre_feedforward_layernorm.weight",
    /*mlp_output_norm=*/"post_feedforward_layernorm.weight",
    /*q_norm=*/"self_attn.q_norm.weight",
    /*k_norm=*/"self_attn.k_norm.weight",
};

// Types people will try that this decoder does not implement, with the reason.
struct Refusal {
  const char* model_type;
  const char* reason;
};
constexpr Refusal kRefusals[] = {
    {"gemma3", "a multimodal Gemma 3 (vision tower and text_config); use a text-only gemma3_text checkpoint"},
    {"phi3", "Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj"},
    {"gemma", "Gemma 1 is not implemented (gemma3_text is)"},
    {"gemma2", "Gemma 2's logit soft-capping layers are not implemented (gemma3_text is)"},
    {"mixtral", "mixture-of-experts MLPs are not implemented"},
    {"qwen2_moe", "mixture-of-experts MLPs are not implemented"},
    {"qwen3_moe", "mixture-of-experts MLPs are not implemented"},
};

}  // namespace

const std::vector<Architecture>& Architectures() {
  static const auto* table = new std::vector<Architecture>{
      {"llama", "LlamaForCausalLM", /*always_qkv_bias=*/false, /*default_tie_embeddings=*/false,
       /*scale_embeddings=*/false, NormWeighting::kWeight, Activation::kSilu, "hidden_act",
       SlidingWindowLayers::kNone, kLlamaNames},
      {"mistral", "MistralForCausalLM", false, false, false, NormWeighting::kWeight, Activation::kSilu, "hidden_act",
       SlidingWindowLayers::kAll, kLlamaNames},
      {"qwen2", "Qwen2ForCausalLM", /*always_qkv_bias=*/true, false, false, NormWeighting::kWeight,
       Activation::kSilu, "hidden_act", SlidingWindowLayers::kAboveMaxWindow, kLlamaNames},
      {"qwen3", "Qwen3ForCausalLM", false, false, false, NormWeighting::kWeight, Activation::kSilu, "hidden_act",
       SlidingWindowLayers::kAboveMaxWindow, kQwen3Names},
      {"gemma3_text", "Gemma3ForCausalLM", false, /*default_tie_embeddings=*/true, /*scale_embeddings=*/true,
       NormWeighting::kOnePlusWeight, Activation::kGeluTanh, "hidden_activation", SlidingWindowLayers::kLayerTypes,
       kGemma3Names},
  };
  return *table;
}

const std::vector<ProjectionName>& ProjectionNames() {
  static const auto* names = new std::vector<ProjectionName>{
      {"q_proj", "self_attn.q_proj"}, {"k_proj", "self_attn.k_proj"}, {"v_proj", "self_attn.v_proj"},
      {"o_proj", "self_attn.o_proj"}, {"gate_proj", "mlp.gate_proj"}, {"up_proj", "mlp.up_proj"},
      {"down_proj", "mlp.down_proj"},
  };
  return *names;
}

std::vector<std::string> ProjectionShortNames() {
  std::vector<std::string> names;
  for (const ProjectionName& name : ProjectionNames()) names.push_back(name.short_name);
  return names;
}

absl::StatusOr<const Architecture*> FindArchitecture(absl::string_view model_type) {
  for (const Architecture& architecture : Architectures()) {
    if (model_type == architecture.model_type) return &architecture;
  }
  std::vector<std::string> supported;
  for (const Architecture& architecture : Architectures()) supported.push_back(architecture.model_type);
  for (const Refusal& refusal : kRefusals) {
    if (model_type == refusal.model_type) {
      return absl::InvalidArgumentError(absl::StrCat("model_type \"", model_type, "\" is not supported: ",
                                                     refusal.reason, " (supported: ",
                                                     absl::StrJoin(supported, ", "), ")"));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("model_type \"", model_type, "\" is not supported (supported: ",
                                                 absl::StrJoin(supported, ", "), ")"));
}

}  // namespace promptintern
