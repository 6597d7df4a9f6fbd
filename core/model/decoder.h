// One decoder-only transformer on libtorch for every family in the architecture table
// (core/model/architecture.h): Llama 2/3, SmolLM2, Mistral, Qwen2, Qwen3, Gemma 3. RMSNorm (w or
// 1 + w), rotary embeddings in the Hugging Face rotate-half convention (default, linear or llama3
// frequency scaling; a second base for sliding layers), grouped-query attention with optional q/k/v
// biases, q/k norms, sliding windows, score scaling and soft-capping, and a gated MLP (SwiGLU or
// GeGLU), optional tied embeddings, optional LoRA on any projection. Weights are plain tensors
// named exactly as in the family's Hugging Face checkpoints, so a checkpoint maps onto the model
// one name at a time.
//
// Weight storage: projection and embedding matrices are float32, or bfloat16 / float16 when a
// 16-bit checkpoint is loaded for serving (half the resident memory); activations and
// accumulation are always float32, and norms and biases are float32. Training needs float32.
//
// Serving form (PackForServing): every projection and the LM head also get a packed weight
// (core/kernels: f32, bf16, f16 or int8 weight-only) that inference multiplies by instead of the
// tensor, with gemv-class kernels for up to kSmallBatchRows rows (decode) and BLAS gemm beyond;
// q/k/v and gate/up are fused into one packed projection each, so a decode step reads a layer's
// weights in four streams instead of seven. Biases ride in the fused projection; q/k norms and
// RoPE apply after the split; per-row adapters (LowRankAdapter) add their update to each part.
//
// Positions: every row of a batch carries its own start position. A query at absolute position p
// sees the keys at positions <= p of its own row (and > p - sliding_window on sliding layers).
// With a KV cache the cache slot is the position, so rows of different lengths (right padded at
// prefill, each decoding at its own position) share one batch: what sits in a slot beyond a row's
// position is never seen.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/kernels/packed_weight.h"
#include "core/model/config.h"

namespace promptintern {

// How the large matrices (projections, embeddings, lm_head) are held in memory.
enum class WeightStorage { kFloat32, kBFloat16, kFloat16 };

// A linear map y = x W^T (+ b), plus an optional low-rank update scale * (x A^T) B^T (LoRA).
struct Projection {
  at::Tensor weight;  // [out, in], float32 / bfloat16 / float16
  at::Tensor bias;    // [out] float32; undefined without
  at::Tensor lora_a;  // [rank, in], undefined without LoRA
  at::Tensor lora_b;  // [out, rank]
  double lora_scale = 0.0;
  double lora_dropout = 0.0;
  // The serving form of `weight` (PackForServing); inference multiplies by it when set.
  std::shared_ptr<const PackedWeight> packed;
  bool has_lora() const { return lora_a.defined(); }
};

// Norm weights are undefined where the family has no such norm.
struct DecoderLayer {
  at::Tensor attention_norm;
  at::Tensor attention_output_norm;
  at::Tensor mlp_norm;
  at::Tensor mlp_output_norm;
  at::Tensor q_norm;  // [head_dim]
  at::Tensor k_norm;
  Projection q_proj, k_proj, v_proj, o_proj;
  Projection gate_proj, up_proj, down_proj;
  // Serving form only (PackForServing): [q; k; v] and [gate; up] as one packed projection each
  // (bias included); `packed` is null otherwise.
  Projection qkv_proj, gate_up_proj;
};

// Per-layer key/value tensors [batch, kv_heads, capacity, head_dim].
struct KvCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  int64_t capacity = 0;
  int64_t batch_size() const;
};

// Keys and values of every layer in fixed-size blocks, [num_blocks, block_size, kv_heads,
// head_dim] each: a sequence's position p lives in slot p % block_size of its block
// block_table[p / block_size] (the serving engine's paged KV cache).
struct PagedKvCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  int64_t block_size = 0;
  int64_t num_blocks = 0;
};

// Low-rank updates of a decoder's projections held apart from its weights (a LoRA adapter: y +=
// scale * (x A^T) B^T), so one copy of the base serves many adapters, each applied to its own
// rows of a batch. core/lora reads them from PEFT files.
struct LowRankAdapter {
  struct Update {
    at::Tensor a;  // [rank, in]; undefined where the adapter leaves the projection alone
    at::Tensor b;  // [out, rank]
  };
  std::string key;  // names the adapter (registry name@version): prefix-cache entries are per adapter
  double scale = 0.0;
  std::vector<Update> updates;  // [layer * kProjectionsPerLayer + slot]
  const Update& update(size_t layer, int slot) const { return updates[layer * kProjectionsPerLayer + slot]; }
};

// One sequence's part of a paged step: it computes the tokens at positions [start, start + count)
// and attends to positions [0, start + count), whose keys/values are (or are being) written to
// its blocks. With an adapter, its rows go through the adapter's projections.
struct PagedSequence {
  int64_t start = 0;
  int64_t count = 0;
  std::vector<int32_t> block_table;
  const LowRankAdapter* adapter = nullptr;
};

// The tokens of several sequences computed in one forward pass, concatenated sequence by
// sequence (ragged: prefill chunks and single decode tokens mix freely).
struct PagedBatch {
  std::vector<int64_t> token_ids;
  std::vector<PagedSequence> sequences;
};

class DecoderModel {
 public:
  // A model whose weights are allocated but uninitialised; fill them from a checkpoint or with
  // InitializeRandom().
  static absl::StatusOr<std::unique_ptr<DecoderModel>> Create(const ModelConfig& config,
                                                              WeightStorage storage = WeightStorage::kFloat32);

  const ModelConfig& config() const { return config_; }
  WeightStorage storage() const { return storage_; }

  // Packs every projection and the LM head into `options.format` for inference and fuses q/k/v
  // and gate/up (see the banner). The tensors stay (NamedWeights, saving and adapters' shapes read
  // them), so the packed form is memory on top of them (a float32 pack of o/down/LM head aliases
  // its tensor, the fused ones are copies) until ReleaseUnpackedWeights frees them. Call once,
  // before serving; FAILED_PRECONDITION on a model with LoRA projections (merge or serve them as
  // adapters instead).
  absl::Status PackForServing(const PackOptions& options);
  // The format of PackForServing, or nullopt before it.
  std::optional<WeightFormat> serving_format() const { return serving_format_; }
  // After PackForServing, frees the projection and LM head tensors that only the packed forms are
  // read from now: inference then holds each weight once, in its serving format (int8 serving of a
  // float32 checkpoint: about 1.1 instead of 5.1 bytes per projection parameter). Each tensor is
  // replaced by one of the same shape that stores a single zero (shape checks, e.g. an adapter's
  // against its base, still work); the embedding stays, as lookups read it. Afterwards the model
  // can serve but not be saved or trained (SaveModel and ModelTrainer refuse it).
  // FAILED_PRECONDITION before PackForServing.
  absl::Status ReleaseUnpackedWeights();
  bool weights_released() const { return weights_released_; }
  // Bytes of weights one decode step reads (every projection and the LM head, in their serving
  // form; the embedding row is negligible): the numerator of a bandwidth bound.
  int64_t WeightBytesPerToken() const;

  // Normal(0, initializer_range) for matrices, zeros for biases, the identity for norms (ones, or
  // zeros where the norm multiplies by 1 + w); deterministic by seed.
  absl::Status InitializeRandom(uint64_t seed);

  // Every weight with its checkpoint name (model.layers.N.self_attn.q_proj.weight, ...), in the
  // names of the model's family. lm_head.weight is absent when embeddings are tied. The tensors
  // alias the model's storage.
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

  absl::StatusOr<PagedKvCache> AllocatePagedCache(int64_t num_blocks, int64_t block_size) const;

  // The paged forward of the serving engine: writes each token's keys/values into its sequence's
  // blocks and returns the final hidden states [num_tokens, hidden] in the batch's token order.
  // Decode tokens (count 1) of all sequences attend together in one batched pass; longer chunks
  // attend one sequence at a time.
  absl::StatusOr<at::Tensor> ForwardPaged(const PagedBatch& batch, PagedKvCache* cache) const;

  // hidden [..., hidden] -> logits [..., vocab] (float32, soft-capped where the family does).
  absl::StatusOr<at::Tensor> Logits(const at::Tensor& hidden) const;

  at::Tensor& embed_tokens() { return embed_tokens_; }
  at::Tensor& final_norm() { return final_norm_; }
  const at::Tensor& lm_head_weight() const;
  std::vector<DecoderLayer>& layers() { return layers_; }
  const std::vector<DecoderLayer>& layers() const { return layers_; }

 private:
  DecoderModel(const ModelConfig& config, WeightStorage storage) : config_(config), storage_(storage) {}
  at::Tensor ForwardUnchecked(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                              KvCache* cache) const;
  at::Tensor Attention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                       const std::vector<int64_t>& start_positions, KvCache* cache) const;
  at::Tensor Norm(const at::Tensor& x, const at::Tensor& weight) const;
  // Rows of a paged step that go through each adapter.
  struct AdapterRows {
    const LowRankAdapter* adapter = nullptr;
    at::Tensor rows;  // [n] int64
  };
  // ApplyProjection, plus each adapter's update on its rows (x is [rows, in] then).
  at::Tensor Project(const Projection& projection, size_t layer, int slot, const at::Tensor& x,
                     const std::vector<AdapterRows>* adapters) const;
  // Adds each adapter's update of projection `slot` to its rows of `y` (which may be a view into
  // a fused projection's output).
  void AddAdapterUpdates(at::Tensor& y, size_t layer, int slot, const at::Tensor& x,
                         const std::vector<AdapterRows>* adapters) const;
  // The decoder layers around an attention function (the dense or the paged one), then the
  // final norm. `x` is the embedded input, [..., hidden].
  template <typename AttentionFn>
  at::Tensor RunLayers(at::Tensor x, const AttentionFn& attention, const std::vector<AdapterRows>* adapters) const;
  at::Tensor Embed(const at::Tensor& tokens) const;
  // q/k/v of `x` [..., hidden] as [..., heads, head_dim] with q/k norms and RoPE at `positions`
  // (same leading shape as x) applied.
  struct Qkv {
    at::Tensor q, k, v;
  };
  Qkv ProjectQkv(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x, const at::Tensor& positions,
                 const std::vector<AdapterRows>* adapters) const;
  struct PagedStepTensors;
  at::Tensor PagedAttention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                            const PagedStepTensors& step, PagedKvCache* cache) const;

  ModelConfig config_;
  WeightStorage storage_;
  at::Tensor embed_tokens_;  // [vocab, hidden]
  at::Tensor final_norm_;    // [hidden]
  at::Tensor lm_head_;       // [vocab, hidden]; undefined when tied
  std::optional<WeightFormat> serving_format_;
  bool weights_released_ = false;
  Projection packed_lm_head_;  // serving form of lm_head_weight(); `packed` null before PackForServing
  std::vector<DecoderLayer> layers_;
  // [max_positions, head_dim] rotary tables of the global layers and of the sliding layers (the
  // same tensors when the family has one rope base).
  at::Tensor rope_cos_, rope_sin_;
  at::Tensor local_rope_cos_, local_rope_sin_;
};

// y = x W^T (+ b) (+ LoRA), in float32 whatever the weight's storage. With a packed weight
// (serving) it multiplies by that (core/kernels/packed_linear.h). Otherwise a single input row in
// inference goes to gemv, which streams the weight once instead of letting BLAS gemm repack it on
// every call: decode at batch 1 is memory-bound.
at::Tensor ApplyProjection(const Projection& projection, const at::Tensor& x);

}  // namespace promptintern
