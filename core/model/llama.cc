#include "core/model/llama.h"

#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

using at::indexing::Slice;

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * at::rsqrt(variance + eps) * weight;
}

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// Positions [B, S] for rows starting at start_positions.
at::Tensor PositionIds(const std::vector<int64_t>& start_positions, int64_t length) {
  const at::Tensor starts = at::tensor(start_positions, at::kLong).unsqueeze(1);
  return starts + at::arange(length, at::kLong).unsqueeze(0);
}

}  // namespace

int64_t KvCache::batch_size() const { return keys.empty() ? 0 : keys.front().size(0); }

at::Tensor ApplyProjection(const Projection& projection, const at::Tensor& x) {
  const int64_t in_features = projection.weight.size(1);
  at::Tensor y;
  if (x.numel() == in_features && !at::GradMode::is_enabled()) {
    y = at::mv(projection.weight, x.reshape({in_features}));
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = projection.weight.size(0);
    y = y.view(shape);
  } else {
    y = at::linear(x, projection.weight);
  }
  if (projection.has_lora()) {
    at::Tensor input = x;
    if (projection.lora_dropout > 0 && at::GradMode::is_enabled()) {
      input = at::dropout(input, projection.lora_dropout, /*train=*/true);
    }
    y = y + at::linear(at::linear(input, projection.lora_a), projection.lora_b) * projection.lora_scale;
  }
  return y;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(const ModelConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<LlamaModel> model(new LlamaModel(config));
  RETURN_IF_ERROR(CallTorchVoid("allocating the model", [&] {
    const auto options = at::TensorOptions().dtype(at::kFloat);
    const int64_t hidden = config.hidden_size;
    const int64_t kv_dim = config.num_key_value_heads * config.head_dim();
    model->embed_tokens_ = at::empty({config.vocab_size, hidden}, options);
    model->final_norm_ = at::ones({hidden}, options);
    if (!config.tie_word_embeddings) model->lm_head_ = at::empty({config.vocab_size, hidden}, options);
    model->layers_.resize(config.num_hidden_layers);
    for (DecoderLayer& layer : model->layers_) {
      layer.input_norm = at::ones({hidden}, options);
      layer.post_attention_norm = at::ones({hidden}, options);
      layer.q_proj.weight = at::empty({hidden, hidden}, options);
      layer.k_proj.weight = at::empty({kv_dim, hidden}, options);
      layer.v_proj.weight = at::empty({kv_dim, hidden}, options);
      layer.o_proj.weight = at::empty({hidden, hidden}, options);
      layer.gate_proj.weight = at::empty({config.intermediate_size, hidden}, options);
      layer.up_proj.weight = at::empty({config.intermediate_size, hidden}, options);
      layer.down_proj.weight = at::empty({hidden, config.intermediate_size}, options);
    }
    // Tables in double, then rounded once, so positions far from 0 stay accurate.
    const int64_t head_dim = config.head_dim();
    const at::Tensor exponents = at::arange(0, head_dim, 2, at::kDouble) / static_cast<double>(head_dim);
    const at::Tensor inv_freq = 1.0 / at::pow(config.rope_theta, exponents);
    const at::Tensor positions = at::arange(config.max_position_embeddings, at::kDouble);
    const at::Tensor freqs = at::outer(positions, inv_freq);
    const at::Tensor angles = at::cat({freqs, freqs}, -1);
    model->rope_cos_ = angles.cos().to(at::kFloat);
    model->rope_sin_ = angles.sin().to(at::kFloat);
  }));
  return model;
}

absl::Status LlamaModel::InitializeRandom(uint64_t seed) {
  return CallTorchVoid("initializing the model", [&] {
    at::NoGradGuard no_grad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double stddev = config_.initializer_range;
    for (auto& [name, tensor] : NamedWeights()) {
      if (tensor.dim() == 1) {
        tensor.fill_(1.0);
      } else {
        tensor.normal_(0.0, stddev, generator);
      }
    }
  });
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::NamedWeights() const {
  std::vector<std::pair<std::string, at::Tensor>> weights;
  weights.emplace_back("model.embed_tokens.weight", embed_tokens_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer& layer = layers_[i];
    const std::string prefix = absl::StrCat("model.layers.", i, ".");
    weights.emplace_back(prefix + "input_layernorm.weight", layer.input_norm);
    weights.emplace_back(prefix + "self_attn.q_proj.weight", layer.q_proj.weight);
    weights.emplace_back(prefix + "self_attn.k_proj.weight", layer.k_proj.weight);
    weights.emplace_back(prefix + "self_attn.v_proj.weight", layer.v_proj.weight);
    weights.emplace_back(prefix + "self_attn.o_proj.weight", layer.o_proj.weight);
    weights.emplace_back(prefix + "post_attention_layernorm.weight", layer.post_attention_norm);
    weights.emplace_back(prefix + "mlp.gate_proj.weight", layer.gate_proj.weight);
    weights.emplace_back(prefix + "mlp.up_proj.weight", layer.up_proj.weight);
    weights.emplace_back(prefix + "mlp.down_proj.weight", layer.down_proj.weight);
  }
  weights.emplace_back("model.norm.weight", final_norm_);
  if (!config_.tie_word_embeddings) weights.emplace_back("lm_head.weight", lm_head_);
  return weights;
}

std::vector<std::pair<std::string, Projection*>> LlamaModel::NamedProjections() {
  std::vector<std::pair<std::string, Projection*>> projections;
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& layer = layers_[i];
    const std::string prefix = absl::StrCat("model.layers.", i, ".");
    projections.emplace_back(prefix + "self_attn.q_proj", &layer.q_proj);
    projections.emplace_back(prefix + "self_attn.k_proj", &layer.k_proj);
    projections.emplace_back(prefix + "self_attn.v_proj", &layer.v_proj);
    projections.emplace_back(prefix + "self_attn.o_proj", &layer.o_proj);
    projections.emplace_back(prefix + "mlp.gate_proj", &layer.gate_proj);
    projections.emplace_back(prefix + "mlp.up_proj", &layer.up_proj);
    projections.emplace_back(prefix + "mlp.down_proj", &layer.down_proj);
  }
  return projections;
}

const at::Tensor& LlamaModel::lm_head_weight() const {
  return config_.tie_word_embeddings ? embed_tokens_ : lm_head_;
}

absl::StatusOr<KvCache> LlamaModel::AllocateCache(int64_t batch_size, int64_t capacity) const {
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

absl::StatusOr<at::Tensor> LlamaModel::Forward(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
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

at::Tensor LlamaModel::ForwardUnchecked(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                                        KvCache* cache) const {
  const int64_t batch = tokens.size(0);
  const int64_t length = tokens.size(1);
  const int64_t head_dim = config_.head_dim();
  const at::Tensor positions = PositionIds(start_positions, length).reshape({-1});
  const at::Tensor cos = rope_cos_.index_select(0, positions).view({batch, 1, length, head_dim});
  const at::Tensor sin = rope_sin_.index_select(0, positions).view({batch, 1, length, head_dim});

  at::Tensor x = at::embedding(embed_tokens_, tokens);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer& layer = layers_[i];
    const at::Tensor attended =
        Attention(layer, i, RmsNorm(x, layer.input_norm, config_.rms_norm_eps), cos, sin, start_positions, cache);
    x = x + attended;
    const at::Tensor normed = RmsNorm(x, layer.post_attention_norm, config_.rms_norm_eps);
    const at::Tensor gated = at::silu(ApplyProjection(layer.gate_proj, normed)) * ApplyProjection(layer.up_proj, normed);
    x = x + ApplyProjection(layer.down_proj, gated);
  }
  return RmsNorm(x, final_norm_, config_.rms_norm_eps);
}

at::Tensor LlamaModel::Attention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                                 const at::Tensor& cos, const at::Tensor& sin,
                                 const std::vector<int64_t>& start_positions, KvCache* cache) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t heads = config_.num_attention_heads;
  const int64_t kv_heads = config_.num_key_value_heads;
  const int64_t group = heads / kv_heads;
  const int64_t head_dim = config_.head_dim();

  at::Tensor q = ApplyProjection(layer.q_proj, x).view({batch, length, heads, head_dim}).transpose(1, 2);
  at::Tensor k = ApplyProjection(layer.k_proj, x).view({batch, length, kv_heads, head_dim}).transpose(1, 2);
  at::Tensor v = ApplyProjection(layer.v_proj, x).view({batch, length, kv_heads, head_dim}).transpose(1, 2);
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;

  at::Tensor keys;
  at::Tensor values;
  at::Tensor key_positions;  // [B, T]
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
    key_positions = PositionIds(start_positions, length);
  }
  const at::Tensor query_positions = PositionIds(start_positions, length);
  // [B, 1, 1, S, T]: a query sees keys at positions up to its own.
  const at::Tensor visible = (key_positions.unsqueeze(1) <= query_positions.unsqueeze(2)).view(
      {batch, 1, 1, length, key_positions.size(1)});

  // Grouped-query attention without copying K/V: queries of one KV head form a group dimension.
  const at::Tensor grouped_q = q.reshape({batch, kv_heads, group, length, head_dim});
  at::Tensor scores = at::matmul(grouped_q, keys.unsqueeze(2).transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
  const at::Tensor probabilities = at::softmax(scores, -1);
  const at::Tensor attended = at::matmul(probabilities, values.unsqueeze(2));  // [B, KV, G, S, D]
  const at::Tensor merged = attended.reshape({batch, heads, length, head_dim}).transpose(1, 2).reshape(
      {batch, length, heads * head_dim});
  return ApplyProjection(layer.o_proj, merged);
}

absl::StatusOr<at::Tensor> LlamaModel::Logits(const at::Tensor& hidden) const {
  return CallTorch("language-model head", [&] {
    Projection head;
    head.weight = lm_head_weight();
    return ApplyProjection(head, hidden);
  });
}

}  // namespace promptintern
