// A Llama-architecture decoder on libtorch: RMSNorm, rotary embeddings (Hugging Face rotate-half
// convention), grouped-query attention, SwiGLU MLP, optional tied embeddings, optional LoRA on
// any projection. Weights are plain tensors named exactly as in a Hugging Face checkpoint, so a
// checkpoint maps onto the model one name at a time.
//
// Positions: every row of a batch carries its own start position. A query at absolute position p
// sees the keys at positions <= p of its own row. With a KV cache the cache slot is the position,
// so rows of different lengths (right padded at prefill, each decoding at its own position) share
// one batch: what sits in a slot beyond a row's position is never seen.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/config.h"

namespace promptintern {

// A linear map y = x W^T, plus an optional low-rank update scale * (x A^T) B^T (LoRA).
struct Projection {
  at::Tensor weight;  // [out, in]
  at::Tensor lora_a;  // [rank, in], undefined without LoRA
  at::Tensor lora_b;  // [out, rank]
  double lora_scale = 0.0;
  double lora_dropout = 0.0;
  bool has_lora() const { return lora_a.defined(); }
};

struct DecoderLayer {
  at::Tensor input_norm;          // [hidden]
  at::Tensor post_attention_norm; // [hidden]
  Projection q_proj, k_proj, v_proj, o_proj;
  Projection gate_proj, up_proj, down_proj;
};

// Per-layer key/value tensors [batch, kv_heads, capacity, head_dim].
struct KvCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  int64_t capacity = 0;
  int64_t batch_size() const;
};

class LlamaModel {
 public:
  // A model whose weights are allocated but uninitialised; fill them from a checkpoint or with
  // InitializeRandom().
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(const ModelConfig& config);

  const ModelConfig& config() const { return config_; }

  // Normal(0, initializer_range) for projections and embeddings, ones for norms; deterministic by seed.
  absl::Status InitializeRandom(uint64_t seed);

  // Every weight with its Hugging Face name (model.layers.N.self_attn.q_proj.weight, ...).
  // lm_head.weight is absent when embeddings are tied. The tensors alias the model's storage.
  std::vector<std::pair<std::string, at::Tensor>> NamedWeights() const;

  // The projections of every layer with their module path (model.layers.N.self_attn.q_proj),
  // for LoRA; the pointers stay valid for the model's lifetime.
  std::vector<std::pair<std::string, Projection*>> NamedProjections();

  absl::StatusOr<KvCache> AllocateCache(int64_t batch_size, int64_t capacity) const;

  // tokens: [B, S] int64. start_positions: B absolute positions of tokens[:, 0].
  // With a cache, keys/values are written into it at those positions and attention reads it;
  // without one (training, full forward passes), the row attends only to these tokens.
  // Returns the final hidden states [B, S, hidden] (after the last norm).
  absl::StatusOr<at::Tensor> Forward(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                                     KvCache* cache) const;

  // hidden [..., hidden] -> logits [..., vocab].
  absl::StatusOr<at::Tensor> Logits(const at::Tensor& hidden) const;

  at::Tensor& embed_tokens() { return embed_tokens_; }
  at::Tensor& final_norm() { return final_norm_; }
  const at::Tensor& lm_head_weight() const;
  std::vector<DecoderLayer>& layers() { return layers_; }
  const std::vector<DecoderLayer>& layers() const { return layers_; }

 private:
  explicit LlamaModel(const ModelConfig& config) : config_(config) {}
  at::Tensor ForwardUnchecked(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                              KvCache* cache) const;
  at::Tensor Attention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                       const at::Tensor& cos, const at::Tensor& sin, const std::vector<int64_t>& start_positions,
                       KvCache* cache) const;

  ModelConfig config_;
  at::Tensor embed_tokens_;  // [vocab, hidden]
  at::Tensor final_norm_;    // [hidden]
  at::Tensor lm_head_;       // [vocab, hidden]; undefined when tied
  std::vector<DecoderLayer> layers_;
  at::Tensor rope_cos_;      // [max_positions, head_dim]
  at::Tensor rope_sin_;
};

// y = x W^T (+ LoRA). A single input row in inference goes to gemv, which streams the weight once
// instead of letting BLAS gemm repack it on every call: decode at batch 1 is memory-bound.
at::Tensor ApplyProjection(const Projection& projection, const at::Tensor& x);

}  // namespace promptintern
