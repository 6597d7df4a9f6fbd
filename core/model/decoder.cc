#include "core/model/decoder.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/model/rope.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// Positions [B, S] for rows starting at start_positions.
at::Tensor PositionIds(const std::vector<int64_t>& start_positions, int64_t length) {
  const at::Tensor starts = at::tensor(start_positions, at::kLong).unsqueeze(1);
  return starts + at::arange(length, at::kLong).unsqueeze(0);
}

at::ScalarType ScalarTypeOf(WeightStorage storage) {
  switch (storage) {
    case WeightStorage::kFloat32: return at::kFloat;
    case WeightStorage::kBFloat16: return at::kBFloat16;
    case WeightStorage::kFloat16: return at::kHalf;
  }
  return at::kFloat;
}

at::Tensor SoftCap(const at::Tensor& x, double cap) { return at::tanh(x / cap) * cap; }

}  // namespace

int64_t KvCache::batch_size() const { return keys.empty() ? 0 : keys.front().size(0); }

at::Tensor ApplyProjection(const Projection& projection, const at::Tensor& x) {
  // 16-bit weights are widened exactly; activations and accumulation stay float32.
  const at::Tensor weight =
      projection.weight.scalar_type() == at::kFloat ? projection.weight : projection.weight.to(at::kFloat);
  const int64_t in_features = weight.size(1);
  at::Tensor y;
  if (x.numel() == in_features && !at::GradMode::is_enabled()) {
    y = at::mv(weight, x.reshape({in_features}));
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = weight.size(0);
    y = y.view(shape);
  } else {
    y = at::linear(x, weight);
  }
  if (projection.bias.defined()) y = y + projection.bias;
  if (projection.has_lora()) {
    at::Tensor input = x;
    if (projection.lora_dropout > 0 && at::GradMode::is_enabled()) {
      input = at::dropout(input, projection.lora_dropout, /*train=*/true);
    }
    y = y + at::linear(at::linear(input, projection.lora_a), projection.lora_b) * projection.lora_scale;
  }
  return y;
}

absl::StatusOr<std::unique_ptr<DecoderModel>> DecoderModel::Create(const ModelConfig& config, WeightStorage storage) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<DecoderModel> model(new DecoderModel(config, storage));
  RETURN_IF_ERROR(CallTorchVoid("allocating the model", [&] {
    const auto matrix = at::TensorOptions().dtype(ScalarTypeOf(storage));
    const auto vector = at::TensorOptions().dtype(at::kFloat);
    const LayerTensorNames& names = config.architecture().names;
    const int64_t hidden = config.hidden_size;
    const int64_t head_dim = config.head_dim();
    const int64_t q_dim = config.num_attention_heads * head_dim;
    const int64_t kv_dim = config.num_key_value_heads * head_dim;
    // Norms start as the identity and biases at zero; matrices are left for a checkpoint or
    // InitializeRandom to fill.
    const double identity = config.architecture().norm_weighting == NormWeighting::kOnePlusWeight ? 0.0 : 1.0;
    auto norm = [&](const char* name, int64_t size) {
      return *name == '\0' ? at::Tensor() : at::full({size}, identity, vector);
    };
    auto projection = [&](int64_t out, int64_t in, bool bias) {
      Projection p;
      p.weight = at::empty({out, in}, matrix);
      if (bias) p.bias = at::zeros({out}, vector);
      return p;
    };
    model->embed_tokens_ = at::empty({config.vocab_size, hidden}, matrix);
    model->final_norm_ = at::full({hidden}, identity, vector);
    if (!config.tie_word_embeddings) model->lm_head_ = at::empty({config.vocab_size, hidden}, matrix);
    model->layers_.resize(config.num_hidden_layers);
    for (DecoderLayer& layer : model->layers_) {
      layer.attention_norm = norm(names.attention_norm, hidden);
      layer.attention_output_norm = norm(names.attention_output_norm, hidden);
      layer.mlp_norm = norm(names.mlp_norm, hidden);
      layer.mlp_output_norm = norm(names.mlp_output_norm, hidden);
      layer.q_norm = norm(names.q_norm, head_dim);
      layer.k_norm = norm(names.k_norm, head_dim);
      layer.q_proj = projection(q_dim, hidden, config.qkv_bias);
      layer.k_proj = projection(kv_dim, hidden, config.qkv_bias);
      layer.v_proj = projection(kv_dim, hidden, config.qkv_bias);
      layer.o_proj = projection(hidden, q_dim, config.o_bias);
      layer.gate_proj = projection(config.intermediate_size, hidden, false);
      layer.up_proj = projection(config.intermediate_size, hidden, false);
      layer.down_proj = projection(hidden, config.intermediate_size, false);
    }
    const RopeTables global = MakeRopeTables(head_dim, config.max_position_embeddings, config.rope_theta,
                                             config.rope_scaling);
    model->rope_cos_ = global.cos;
    model->rope_sin_ = global.sin;
    if (config.rope_local_theta > 0) {
      const RopeTables local =
          MakeRopeTables(head_dim, config.max_position_embeddings, config.rope_local_theta, RopeScaling{});
      model->local_rope_cos_ = local.cos;
      model->local_rope_sin_ = local.sin;
    } else {
      model->local_rope_cos_ = global.cos;
      model->local_rope_sin_ = global.sin;
    }
  }));
  return model;
}

absl::Status DecoderModel::InitializeRandom(uint64_t seed) {
  return CallTorchVoid("initializing the model", [&] {
    at::NoGradGuard no_grad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double stddev = config_.initializer_range;
    const double identity = config_.architecture().norm_weighting == NormWeighting::kOnePlusWeight ? 0.0 : 1.0;
    for (auto& [name, tensor] : NamedWeights()) {
      if (tensor.dim() == 2) {
        // Drawn in float32 whatever the storage, so a seed gives the same model in every storage.
        tensor.copy_(at::empty(tensor.sizes(), at::kFloat).normal_(0.0, stddev, generator));
      } else {
        tensor.fill_(identity);
      }
    }
    for (auto& [path, projection] : NamedProjections()) {
      if (projection->bias.defined()) projection->bias.zero_();
    }
  });
}

std::vector<std::pair<std::string, at::Tensor>> DecoderModel::NamedWeights() const {
  const LayerTensorNames& names = config_.architecture().names;
  std::vector<std::pair<std::string, at::Tensor>> weights;
  weights.emplace_back("model.embed_tokens.weight", embed_tokens_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer& layer = layers_[i];
    const std::string prefix = absl::StrCat("model.layers.", i, ".");
    auto add_norm = [&](const char* name, const at::Tensor& tensor) {
      if (tensor.defined()) weights.emplace_back(prefix + name, tensor);
    };
    add_norm(names.attention_norm, layer.attention_norm);
    add_norm(names.q_norm, layer.q_norm);
    add_norm(names.k_norm, layer.k_norm);
    add_norm(names.attention_output_norm, layer.attention_output_norm);
    add_norm(names.mlp_norm, layer.mlp_norm);
    add_norm(names.mlp_output_norm, layer.mlp_output_norm);
    const Projection* projections[] = {&layer.q_proj,    &layer.k_proj,  &layer.v_proj,   &layer.o_proj,
                                       &layer.gate_proj, &layer.up_proj, &layer.down_proj};
    for (size_t p = 0; p < ProjectionNames().size(); ++p) {
      const std::string path = prefix + ProjectionNames()[p].path;
      weights.emplace_back(path + ".weight", projections[p]->weight);
      if (projections[p]->bias.defined()) weights.emplace_back(path + ".bias", projections[p]->bias);
    }
  }
  weights.emplace_back("model.norm.weight", final_norm_);
  if (!config_.tie_word_embeddings) weights.emplace_back("lm_head.weight", lm_head_);
  return weights;
}

std::vector<std::pair<std::string, Projection*>> DecoderModel::NamedProjections() {
  std::vector<std::pair<std::string, Projection*>> projections;
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& layer = layers_[i];
    Projection* in_order[] = {&layer.q_proj,    &layer.k_proj,  &layer.v_proj,   &layer.o_proj,
                              &layer.gate_proj, &layer.up_proj, &layer.down_proj};
    for (size_t p = 0; p < ProjectionNames().size(); ++p) {
      projections.emplace_back(absl::StrCat("model.layers.", i, ".", ProjectionNames()[p].path), in_order[p]);
    }
  }
  return projections;
}

const at::Tensor& DecoderModel::lm_head_weight() const {
  return config_.tie_word_embeddings ? embed_tokens_ : lm_head_;
}

absl::StatusOr<KvCache> DecoderModel::AllocateCache(int64_t batch_size, int64_t capacity) const {
  if (batch_size <= 0) return absl::InvalidArgumentError("cache batch size must be positive");
  if (capacity <= 0 || capacity > config_.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("cache capacity ", capacity, " must be in [1, ",
                                                   config_.max_position_embeddings, "]"));
  }
  return CallTorch("allocating the KV cache", [&] {
    KvCache cache;
    cache.capacity = capacity;
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
      cache.keys.push_back(at::zeros({batch_size, config_.num_key_value_heads, capacity, config_.head_dim()}));
      cache.values.push_back(at::zeros({batch_size, config_.num_key_value_heads, capacity, config_.head_dim()}));
    }
    return cache;
  });
}

absl::StatusOr<at::Tensor> DecoderModel::Forward(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                                                 KvCache* cache) const {
  if (tokens.dim() != 2 || tokens.scalar_type() != at::kLong) {
    return absl::InvalidArgumentError("tokens must be a [batch, length] int64 tensor");
  }
  const int64_t batch = tokens.size(0);
  const int64_t length = tokens.size(1);
  if (static_cast<int64_t>(start_positions.size()) != batch) {
    return absl::InvalidArgumentError(absl::StrCat("got ", start_positions.size(), " start positions for a batch of ", batch));
  }
  const int64_t limit = cache != nullptr ? cache->capacity : config_.max_position_embeddings;
  for (int64_t start : start_positions) {
    if (start < 0 || start + length > limit) {
      return absl::OutOfRangeError(absl::StrCat("positions [", start, ", ", start + length, ") exceed the ",
                                                cache != nullptr ? "cache capacity " : "context length ", limit));
    }
  }
  if (cache != nullptr && cache->batch_size() != batch) {
    return absl::InvalidArgumentError(absl::StrCat("cache holds ", cache->batch_size(), " rows, batch has ", batch));
  }
  if (length > 0) {
    const int64_t max_token = tokens.max().item<int64_t>();
    const int64_t min_token = tokens.min().item<int64_t>();
    if (min_token < 0 || max_token >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id outside the vocabulary [0, ", config_.vocab_size, ")"));
    }
  }
  return CallTorch("model forward", [&] { return ForwardUnchecked(tokens, start_positions, cache); });
}

at::Tensor DecoderModel::Norm(const at::Tensor& x, const at::Tensor& weight) const {
  const at::Tensor normalized = x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + config_.rms_norm_eps);
  return config_.architecture().norm_weighting == NormWeighting::kOnePlusWeight ? normalized * (weight + 1.0)
                                                                                 : normalized * weight;
}

at::Tensor DecoderModel::ForwardUnchecked(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                                          KvCache* cache) const {
  at::Tensor x = at::embedding(embed_tokens_, tokens);
  if (x.scalar_type() != at::kFloat) x = x.to(at::kFloat);
  if (config_.architecture().scale_embeddings) x = x * std::sqrt(static_cast<double>(config_.hidden_size));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer& layer = layers_[i];
    at::Tensor attended = Attention(layer, i, Norm(x, layer.attention_norm), start_positions, cache);
    if (layer.attention_output_norm.defined()) attended = Norm(attended, layer.attention_output_norm);
    x = x + attended;
    const at::Tensor normed = Norm(x, layer.mlp_norm);
    const at::Tensor gate = ApplyProjection(layer.gate_proj, normed);
    const at::Tensor activated =
        config_.activation == Activation::kSilu ? at::silu(gate) : at::gelu(gate, /*approximate=*/"tanh");
    at::Tensor mlp = ApplyProjection(layer.down_proj, activated * ApplyProjection(layer.up_proj, normed));
    if (layer.mlp_output_norm.defined()) mlp = Norm(mlp, layer.mlp_output_norm);
    x = x + mlp;
  }
  return Norm(x, final_norm_);
}

at::Tensor DecoderModel::Attention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                                   const std::vector<int64_t>& start_positions, KvCache* cache) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t heads = config_.num_attention_heads;
  const int64_t kv_heads = config_.num_key_value_heads;
  const int64_t group = heads / kv_heads;
  const int64_t head_dim = config_.head_dim();
  const bool sliding = config_.is_sliding_layer(static_cast<int64_t>(layer_index));

  at::Tensor q = ApplyProjection(layer.q_proj, x).view({batch, length, heads, head_dim});
  at::Tensor k = ApplyProjection(layer.k_proj, x).view({batch, length, kv_heads, head_dim});
  at::Tensor v = ApplyProjection(layer.v_proj, x).view({batch, length, kv_heads, head_dim}).transpose(1, 2);
  if (layer.q_norm.defined()) {
    q = Norm(q, layer.q_norm);
    k = Norm(k, layer.k_norm);
  }
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  const at::Tensor query_positions = PositionIds(start_positions, length);
  const at::Tensor flat_positions = query_positions.reshape({-1});
  const at::Tensor& cos_table = sliding ? local_rope_cos_ : rope_cos_;
  const at::Tensor& sin_table = sliding ? local_rope_sin_ : rope_sin_;
  const at::Tensor cos = cos_table.index_select(0, flat_positions).view({batch, 1, length, head_dim});
  const at::Tensor sin = sin_table.index_select(0, flat_positions).view({batch, 1, length, head_dim});
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;

  at::Tensor keys;
  at::Tensor values;
  at::Tensor key_positions;  // [B or 1, T]
  if (cache != nullptr) {
    int64_t end = 0;
    for (int64_t b = 0; b < batch; ++b) {
      cache->keys[layer_index][b].narrow(1, start_positions[b], length).copy_(k[b]);
      cache->values[layer_index][b].narrow(1, start_positions[b], length).copy_(v[b]);
      end = std::max(end, start_positions[b] + length);
    }
    keys = cache->keys[layer_index].narrow(2, 0, end);
    values = cache->values[layer_index].narrow(2, 0, end);
    key_positions = at::arange(end, at::kLong).unsqueeze(0);
  } else {
    keys = k;
    values = v;
    key_positions = query_positions;
  }
  // [B, 1, 1, S, T]: a query sees keys at positions up to its own (and within the window).
  const at::Tensor key_grid = key_positions.unsqueeze(1);
  const at::Tensor query_grid = query_positions.unsqueeze(2);
  at::Tensor visible = key_grid <= query_grid;
  if (sliding) visible = visible.logical_and(key_grid > query_grid - config_.sliding_window);
  visible = visible.view({batch, 1, 1, length, key_positions.size(1)});

  // Grouped-query attention without copying K/V: queries of one KV head form a group dimension.
  const at::Tensor grouped_q = q.reshape({batch, kv_heads, group, length, head_dim});
  at::Tensor scores = at::matmul(grouped_q, keys.unsqueeze(2).transpose(-1, -2)) / config_.attention_divisor();
  if (config_.attn_logit_softcapping > 0) scores = SoftCap(scores, config_.attn_logit_softcapping);
  scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
  const at::Tensor probabilities = at::softmax(scores, -1);
  const at::Tensor attended = at::matmul(probabilities, values.unsqueeze(2));  // [B, KV, G, S, D]
  const at::Tensor merged = attended.reshape({batch, heads, length, head_dim}).transpose(1, 2).reshape(
      {batch, length, heads * head_dim});
  return ApplyProjection(layer.o_proj, merged);
}

absl::StatusOr<at::Tensor> DecoderModel::Logits(const at::Tensor& hidden) const {
  return CallTorch("language-model head", [&] {
    Projection head;
    head.weight = lm_head_weight();
    at::Tensor logits = ApplyProjection(head, hidden);
    if (config_.final_logit_softcapping > 0) logits = SoftCap(logits, config_.final_logit_softcapping);
    return logits;
  });
}

}  // namespace promptintern
