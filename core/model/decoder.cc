#include "core/model/decoder.h"

#include <malloc.h>
#include <sys/mman.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <new>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "core/kernels/decode_attention.h"
#include "core/kernels/packed_linear.h"
#include "core/kernels/rms_norm.h"
#include "core/kernels/rotary.h"
#include "core/model/rope.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// Rows of x [..., heads, head_dim] one stride apart, heads contiguous in a row: that stride, or -1
// when x is not laid out so (ApplyRotary's layout, rotary.h).
int64_t RotaryRowStride(const at::Tensor& x) {
  const int64_t dims = x.dim();
  if (dims < 2 || x.stride(dims - 1) != 1 || x.stride(dims - 2) != x.size(dims - 1)) return -1;
  for (int64_t d = 0; d + 3 < dims; ++d) {
    if (x.size(d) != 1 && x.stride(d) != x.size(d + 1) * x.stride(d + 1)) return -1;
  }
  return dims >= 3 ? x.stride(dims - 3) : 0;
}

// x * cos + RotateHalf(x) * sin at `positions` (one per row of x), in one pass (rotary.h) where
// the layouts allow it and every position is in the tables; nullopt where they do not.
std::optional<at::Tensor> RotatedInOnePass(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                           const at::Tensor& positions) {
  const int64_t row_stride = RotaryRowStride(x);
  const int64_t head_dim = x.size(-1);
  if (row_stride < 0 || x.scalar_type() != at::kFloat || head_dim % 2 != 0 || cos.scalar_type() != at::kFloat ||
      sin.scalar_type() != at::kFloat || !cos.is_contiguous() || !sin.is_contiguous() || cos.size(1) != head_dim ||
      sin.sizes() != cos.sizes() || positions.scalar_type() != at::kLong || !positions.is_contiguous() ||
      positions.numel() * x.size(-2) * head_dim != x.numel()) {
    return std::nullopt;
  }
  const int64_t* position = positions.data_ptr<int64_t>();
  for (int64_t r = 0; r < positions.numel(); ++r) {
    if (position[r] < 0 || position[r] >= cos.size(0)) return std::nullopt;  // the composition names the error
  }
  at::Tensor out = at::empty(x.sizes(), x.options());
  RotaryArgs args;
  args.x = x.data_ptr<float>();
  args.rows = positions.numel();
  args.row_stride = row_stride;
  args.heads = x.size(-2);
  args.head_dim = head_dim;
  args.cos = cos.data_ptr<float>();
  args.sin = sin.data_ptr<float>();
  args.table_stride = head_dim;
  args.positions = position;
  args.out = out.data_ptr<float>();
  ApplyRotary(args);
  return out;
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

// A float32 tensor on anonymous memory: it reads as zeros, and a page becomes resident only when
// first written, so a large KV pool costs the memory of the blocks in use. Zeros matter: attention
// masks the slots past a sequence's end, but 0 * NaN from uninitialised memory would still be NaN.
at::Tensor LazilyZeroedTensor(const std::vector<int64_t>& shape) {
  int64_t elements = 1;
  for (int64_t size : shape) elements *= size;
  const size_t bytes = static_cast<size_t>(elements) * sizeof(float);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  return at::from_blob(memory, shape, [bytes](void* data) { munmap(data, bytes); }, at::TensorOptions().dtype(at::kFloat));
}

// The serving form of `parts` stacked along the output dimension (one part: itself), biases
// concatenated (zeros for a part without one, when another has one).
Projection PackStacked(const std::vector<const Projection*>& parts, const PackOptions& options) {
  std::vector<at::Tensor> weights;
  std::vector<at::Tensor> biases;
  bool any_bias = false;
  for (const Projection* part : parts) {
    weights.push_back(part->weight.to(at::kFloat));
    any_bias = any_bias || part->bias.defined();
  }
  for (const Projection* part : parts) {
    biases.push_back(part->bias.defined() ? part->bias : at::zeros({part->weight.size(0)}, at::kFloat));
  }
  Projection fused;
  fused.weight = parts.size() == 1 ? weights.front() : at::cat(weights, 0);
  if (any_bias) fused.bias = parts.size() == 1 ? biases.front() : at::cat(biases, 0);
  absl::StatusOr<PackedWeight> packed = PackWeight(fused.weight.contiguous(), options);
  if (!packed.ok()) throw std::invalid_argument(std::string(packed.status().message()));
  fused.packed = std::make_shared<const PackedWeight>(*std::move(packed));
  // The packed form is all inference reads; an f32 pack's tensor stands as the weight too, another
  // format needs none.
  fused.weight = options.format == WeightFormat::kF32 ? fused.packed->Unpack() : at::Tensor();
  return fused;
}

}  // namespace

int64_t KvCache::batch_size() const { return keys.empty() ? 0 : keys.front().size(0); }

at::Tensor ApplyProjection(const Projection& projection, const at::Tensor& x) {
  if (projection.packed != nullptr) {  // serving: PackForServing refuses LoRA projections
    at::Tensor y = PackedLinear(x, *projection.packed);
    if (projection.bias.defined()) y.add_(projection.bias);
    return y;
  }
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

absl::Status DecoderModel::PackForServing(const PackOptions& options) {
  if (serving_format_.has_value()) return absl::FailedPreconditionError("the model is already packed for serving");
  for (auto& [path, projection] : NamedProjections()) {
    if (projection->has_lora()) {
      return absl::FailedPreconditionError(absl::StrCat(path, " carries LoRA: merge it or serve it as an adapter"));
    }
  }
  // f32 weights are copied into weight storage too (2 MiB pages; ReleaseUnpackedWeights frees the
  // originals), except a head tied to the embedding: the lookup keeps reading that tensor, and a
  // copy would hold the vocabulary matrix twice.
  PackOptions copied = options;
  copied.f32_in_weight_storage = true;
  RETURN_IF_ERROR(CallTorchVoid("packing the weights for serving", [&] {
    at::NoGradGuard no_grad;
    for (DecoderLayer& layer : layers_) {
      layer.qkv_proj = PackStacked({&layer.q_proj, &layer.k_proj, &layer.v_proj}, copied);
      layer.gate_up_proj = PackStacked({&layer.gate_proj, &layer.up_proj}, copied);
      layer.o_proj.packed = PackStacked({&layer.o_proj}, copied).packed;
      layer.down_proj.packed = PackStacked({&layer.down_proj}, copied).packed;
    }
    Projection head;
    head.weight = lm_head_weight();
    packed_lm_head_ = PackStacked({&head}, config_.tie_word_embeddings ? options : copied);
  }));
  serving_format_ = options.format;
  return absl::OkStatus();
}

absl::Status DecoderModel::ReleaseUnpackedWeights() {
  if (!serving_format_.has_value()) {
    return absl::FailedPreconditionError("only a model packed for serving can release its unpacked weights");
  }
  RETURN_IF_ERROR(CallTorchVoid("releasing the unpacked weights", [&] {
    // Same shape, one stored element: the packed forms hold the values (copies in weight storage;
    // a tied head's f32 pack shares the embedding, which is not released).
    auto shape_only = [](at::Tensor& weight) {
      if (weight.defined()) weight = at::zeros({1}, weight.options()).expand(weight.sizes());
    };
    for (DecoderLayer& layer : layers_) {
      for (Projection* projection : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.gate_proj,
                                     &layer.up_proj, &layer.down_proj}) {
        shape_only(projection->weight);
      }
    }
    if (!config_.tie_word_embeddings) shape_only(lm_head_);
  }));
  // The freed tensors, and the float32 temporaries of packing before them, mostly sit in malloc's
  // heap; without this the process keeps them resident.
  malloc_trim(0);
  weights_released_ = true;
  return absl::OkStatus();
}

int64_t DecoderModel::WeightBytesPerToken() const {
  const auto bytes = [](const Projection& projection) {
    return projection.packed != nullptr ? projection.packed->bytes()
                                        : projection.weight.numel() * static_cast<int64_t>(projection.weight.element_size());
  };
  int64_t total = 0;
  for (const DecoderLayer& layer : layers_) {
    if (layer.qkv_proj.packed != nullptr) {
      total += bytes(layer.qkv_proj) + bytes(layer.gate_up_proj);
    } else {
      total += bytes(layer.q_proj) + bytes(layer.k_proj) + bytes(layer.v_proj) + bytes(layer.gate_proj) +
               bytes(layer.up_proj);
    }
    total += bytes(layer.o_proj) + bytes(layer.down_proj);
  }
  if (packed_lm_head_.packed != nullptr) return total + bytes(packed_lm_head_);
  Projection head;
  head.weight = lm_head_weight();
  return total + bytes(head);
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
  const bool one_plus_weight = config_.architecture().norm_weighting == NormWeighting::kOnePlusWeight;
  if (!at::GradMode::is_enabled() && x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat &&
      weight.is_contiguous() && weight.numel() > 0 && x.dim() > 0 && x.size(-1) == weight.numel()) {
    const at::Tensor input = x.contiguous();
    at::Tensor y = at::empty_like(input);
    RmsNormRows(input.data_ptr<float>(), input.numel() / weight.numel(), weight.numel(), weight.data_ptr<float>(),
                one_plus_weight ? 1.0f : 0.0f, static_cast<float>(config_.rms_norm_eps), y.data_ptr<float>());
    return y;
  }
  const at::Tensor normalized = x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + config_.rms_norm_eps);
  return one_plus_weight ? normalized * (weight + 1.0) : normalized * weight;
}

at::Tensor DecoderModel::Embed(const at::Tensor& tokens) const {
  at::Tensor x = at::embedding(embed_tokens_, tokens);
  if (x.scalar_type() != at::kFloat) x = x.to(at::kFloat);
  if (config_.architecture().scale_embeddings) x = x * std::sqrt(static_cast<double>(config_.hidden_size));
  return x;
}

at::Tensor DecoderModel::Project(const Projection& projection, size_t layer, int slot, const at::Tensor& x,
                                 const std::vector<AdapterRows>* adapters) const {
  at::Tensor y = ApplyProjection(projection, x);
  AddAdapterUpdates(y, layer, slot, x, adapters);
  return y;
}

void DecoderModel::AddAdapterUpdates(at::Tensor& y, size_t layer, int slot, const at::Tensor& x,
                                     const std::vector<AdapterRows>* adapters) const {
  if (adapters == nullptr) return;
  for (const AdapterRows& group : *adapters) {
    const LowRankAdapter::Update& update = group.adapter->update(layer, slot);
    if (!update.a.defined()) continue;
    const at::Tensor delta = at::linear(at::linear(x.index_select(0, group.rows), update.a), update.b);
    y.index_add_(0, group.rows, delta, group.adapter->scale);
  }
}

template <typename AttentionFn>
at::Tensor DecoderModel::RunLayers(at::Tensor x, const AttentionFn& attention,
                                   const std::vector<AdapterRows>* adapters) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DecoderLayer& layer = layers_[i];
    at::Tensor attended = attention(layer, i, Norm(x, layer.attention_norm));
    if (layer.attention_output_norm.defined()) attended = Norm(attended, layer.attention_output_norm);
    x = x + attended;
    const at::Tensor normed = Norm(x, layer.mlp_norm);
    at::Tensor gate;
    at::Tensor up;
    if (layer.gate_up_proj.packed != nullptr) {
      const at::Tensor fused = ApplyProjection(layer.gate_up_proj, normed);
      const int64_t intermediate = config_.intermediate_size;
      gate = fused.narrow(-1, 0, intermediate);
      up = fused.narrow(-1, intermediate, intermediate);
      AddAdapterUpdates(gate, i, kGateProj, normed, adapters);
      AddAdapterUpdates(up, i, kUpProj, normed, adapters);
    } else {
      gate = Project(layer.gate_proj, i, kGateProj, normed, adapters);
      up = Project(layer.up_proj, i, kUpProj, normed, adapters);
    }
    const at::Tensor activated =
        config_.activation == Activation::kSilu ? at::silu(gate) : at::gelu(gate, /*approximate=*/"tanh");
    at::Tensor mlp = Project(layer.down_proj, i, kDownProj, activated * up, adapters);
    if (layer.mlp_output_norm.defined()) mlp = Norm(mlp, layer.mlp_output_norm);
    x = x + mlp;
  }
  return Norm(x, final_norm_);
}

DecoderModel::Qkv DecoderModel::ProjectQkv(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                                           const at::Tensor& positions,
                                           const std::vector<AdapterRows>* adapters) const {
  const int64_t head_dim = config_.head_dim();
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = -1;
  shape.push_back(head_dim);
  Qkv qkv;
  if (layer.qkv_proj.packed != nullptr) {
    // One fused projection, split into views; each part's adapter update lands in its columns.
    const at::Tensor fused = ApplyProjection(layer.qkv_proj, x);
    const int64_t q_dim = config_.num_attention_heads * head_dim;
    const int64_t kv_dim = config_.num_key_value_heads * head_dim;
    at::Tensor q = fused.narrow(-1, 0, q_dim);
    at::Tensor k = fused.narrow(-1, q_dim, kv_dim);
    at::Tensor v = fused.narrow(-1, q_dim + kv_dim, kv_dim);
    AddAdapterUpdates(q, layer_index, kQProj, x, adapters);
    AddAdapterUpdates(k, layer_index, kKProj, x, adapters);
    AddAdapterUpdates(v, layer_index, kVProj, x, adapters);
    qkv.q = q.view(shape);
    qkv.k = k.view(shape);
    qkv.v = v.view(shape);
  } else {
    qkv.q = Project(layer.q_proj, layer_index, kQProj, x, adapters).view(shape);
    qkv.k = Project(layer.k_proj, layer_index, kKProj, x, adapters).view(shape);
    qkv.v = Project(layer.v_proj, layer_index, kVProj, x, adapters).view(shape);
  }
  if (layer.q_norm.defined()) {
    qkv.q = Norm(qkv.q, layer.q_norm);
    qkv.k = Norm(qkv.k, layer.k_norm);
  }
  const bool sliding = config_.is_sliding_layer(static_cast<int64_t>(layer_index));
  const at::Tensor& cos_table = sliding ? local_rope_cos_ : rope_cos_;
  const at::Tensor& sin_table = sliding ? local_rope_sin_ : rope_sin_;
  const at::Tensor flat_positions = positions.reshape({-1});
  if (!at::GradMode::is_enabled()) {
    std::optional<at::Tensor> q = RotatedInOnePass(qkv.q, cos_table, sin_table, flat_positions);
    std::optional<at::Tensor> k = q ? RotatedInOnePass(qkv.k, cos_table, sin_table, flat_positions) : std::nullopt;
    if (q && k) {
      qkv.q = std::move(*q);
      qkv.k = std::move(*k);
      return qkv;
    }
  }
  std::vector<int64_t> table_shape = positions.sizes().vec();
  table_shape.push_back(1);  // broadcast over heads
  table_shape.push_back(head_dim);
  const at::Tensor cos = cos_table.index_select(0, flat_positions).view(table_shape);
  const at::Tensor sin = sin_table.index_select(0, flat_positions).view(table_shape);
  qkv.q = qkv.q * cos + RotateHalf(qkv.q) * sin;
  qkv.k = qkv.k * cos + RotateHalf(qkv.k) * sin;
  return qkv;
}

at::Tensor DecoderModel::ForwardUnchecked(const at::Tensor& tokens, const std::vector<int64_t>& start_positions,
                                          KvCache* cache) const {
  return RunLayers(
      Embed(tokens),
      [&](const DecoderLayer& layer, size_t i, const at::Tensor& x) { return Attention(layer, i, x, start_positions, cache); },
      /*adapters=*/nullptr);
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

  const at::Tensor query_positions = PositionIds(start_positions, length);
  Qkv qkv = ProjectQkv(layer, layer_index, x, query_positions, /*adapters=*/nullptr);
  const at::Tensor q = qkv.q.transpose(1, 2);  // [B, H, S, D]
  const at::Tensor k = qkv.k.transpose(1, 2);
  const at::Tensor v = qkv.v.transpose(1, 2);

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

// What every layer of one paged step shares, built once per step.
struct DecoderModel::PagedStepTensors {
  std::vector<AdapterRows> adapters;
  at::Tensor positions;  // [N]
  at::Tensor slots;      // [N] flat cache slot (block * block_size + offset) of each token
  // Decode tokens of single-token sequences: each attends to its own sequence's positions,
  // read from the pool through its block table (DecodeAttention), whatever the others' lengths.
  struct DecodeRows {
    std::vector<int64_t> token_rows;          // their row in the step's tokens
    std::vector<int64_t> positions;           // each one's position
    std::vector<const int32_t*> block_tables;  // into the batch's sequences
  };
  DecodeRows decode;
  // Longer chunks, one at a time.
  struct Chunk {
    int64_t first_row = 0;
    int64_t count = 0;
    int64_t key_length = 0;  // start + count
    at::Tensor blocks;       // [ceil(key_length / block_size)]
    at::Tensor visible;      // [1, 1, count, key_length]
    at::Tensor visible_sliding;
  };
  std::vector<Chunk> chunks;
};

absl::StatusOr<PagedKvCache> DecoderModel::AllocatePagedCache(int64_t num_blocks, int64_t block_size) const {
  if (num_blocks <= 0 || block_size <= 0) return absl::InvalidArgumentError("paged cache sizes must be positive");
  return CallTorch("allocating the paged KV cache", [&] {
    PagedKvCache cache;
    cache.block_size = block_size;
    cache.num_blocks = num_blocks;
    const std::vector<int64_t> shape = {num_blocks, block_size, config_.num_key_value_heads, config_.head_dim()};
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
      cache.keys.push_back(LazilyZeroedTensor(shape));
      cache.values.push_back(LazilyZeroedTensor(shape));
    }
    return cache;
  });
}

absl::StatusOr<at::Tensor> DecoderModel::ForwardPaged(const PagedBatch& batch, PagedKvCache* cache) const {
  const int64_t block_size = cache->block_size;
  int64_t rows = 0;
  for (const PagedSequence& sequence : batch.sequences) {
    if (sequence.count <= 0 || sequence.start < 0) return absl::InvalidArgumentError("empty paged sequence");
    const int64_t end = sequence.start + sequence.count;
    if (end > config_.max_position_embeddings) {
      return absl::OutOfRangeError(absl::StrCat("positions [", sequence.start, ", ", end, ") exceed the context length ",
                                                config_.max_position_embeddings));
    }
    if (static_cast<int64_t>(sequence.block_table.size()) * block_size < end) {
      return absl::InvalidArgumentError(absl::StrCat("a block table of ", sequence.block_table.size(),
                                                     " blocks cannot hold ", end, " positions"));
    }
    for (int32_t block : sequence.block_table) {
      if (block < 0 || block >= cache->num_blocks) return absl::InvalidArgumentError("block id outside the pool");
    }
    if (sequence.adapter != nullptr &&
        static_cast<int64_t>(sequence.adapter->updates.size()) != config_.num_hidden_layers * kProjectionsPerLayer) {
      return absl::InvalidArgumentError(absl::StrCat("adapter ", sequence.adapter->key, " does not fit this model's layers"));
    }
    rows += sequence.count;
  }
  if (rows != static_cast<int64_t>(batch.token_ids.size()) || rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat("the sequences cover ", rows, " tokens, the batch has ",
                                                   batch.token_ids.size()));
  }
  for (int64_t token : batch.token_ids) {
    if (token < 0 || token >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id outside the vocabulary [0, ", config_.vocab_size, ")"));
    }
  }
  return CallTorch("paged model forward", [&] {
    const int64_t window = config_.sliding_window;
    PagedStepTensors step;
    std::vector<int64_t> positions;
    std::vector<int64_t> slots;
    int64_t row = 0;
    for (const PagedSequence& sequence : batch.sequences) {
      for (int64_t p = sequence.start; p < sequence.start + sequence.count; ++p) {
        positions.push_back(p);
        slots.push_back(static_cast<int64_t>(sequence.block_table[p / block_size]) * block_size + p % block_size);
      }
      const int64_t key_length = sequence.start + sequence.count;
      if (sequence.count == 1) {
        step.decode.token_rows.push_back(row);
        step.decode.positions.push_back(sequence.start);
        step.decode.block_tables.push_back(sequence.block_table.data());
      } else {
        PagedStepTensors::Chunk chunk;
        chunk.first_row = row;
        chunk.count = sequence.count;
        chunk.key_length = key_length;
        const int64_t used_blocks = (key_length + block_size - 1) / block_size;
        chunk.blocks = at::tensor(std::vector<int64_t>(sequence.block_table.begin(),
                                                       sequence.block_table.begin() + used_blocks),
                                  at::kLong);
        const at::Tensor keys = at::arange(key_length, at::kLong).unsqueeze(0);
        const at::Tensor queries = at::arange(sequence.start, key_length, at::kLong).unsqueeze(1);
        chunk.visible = (keys <= queries).view({1, 1, sequence.count, key_length});
        if (window > 0) chunk.visible_sliding = chunk.visible.logical_and((keys > queries - window).view(
                                                    {1, 1, sequence.count, key_length}));
        step.chunks.push_back(std::move(chunk));
      }
      row += sequence.count;
    }
    step.positions = at::tensor(positions, at::kLong);
    step.slots = at::tensor(slots, at::kLong);
    // Rows grouped by adapter, so each adapter's update is two matmuls per projection.
    std::map<const LowRankAdapter*, std::vector<int64_t>> adapter_rows;
    int64_t first = 0;
    for (const PagedSequence& sequence : batch.sequences) {
      if (sequence.adapter != nullptr) {
        std::vector<int64_t>& rows_of = adapter_rows[sequence.adapter];
        for (int64_t r = first; r < first + sequence.count; ++r) rows_of.push_back(r);
      }
      first += sequence.count;
    }
    for (auto& [adapter, rows_of] : adapter_rows) step.adapters.push_back({adapter, at::tensor(rows_of, at::kLong)});
    const at::Tensor tokens = at::tensor(batch.token_ids, at::kLong);
    return RunLayers(
        Embed(tokens),
        [&](const DecoderLayer& layer, size_t i, const at::Tensor& x) { return PagedAttention(layer, i, x, step, cache); },
        step.adapters.empty() ? nullptr : &step.adapters);
  });
}

at::Tensor DecoderModel::PagedAttention(const DecoderLayer& layer, size_t layer_index, const at::Tensor& x,
                                        const PagedStepTensors& step, PagedKvCache* cache) const {
  const int64_t rows = x.size(0);
  const int64_t heads = config_.num_attention_heads;
  const int64_t kv_heads = config_.num_key_value_heads;
  const int64_t group = heads / kv_heads;
  const int64_t head_dim = config_.head_dim();
  const bool sliding = config_.is_sliding_layer(static_cast<int64_t>(layer_index));

  const std::vector<AdapterRows>* adapters = step.adapters.empty() ? nullptr : &step.adapters;
  const Qkv qkv = ProjectQkv(layer, layer_index, x, step.positions, adapters);  // [N, heads, D]
  at::Tensor& key_pool = cache->keys[layer_index];
  at::Tensor& value_pool = cache->values[layer_index];
  key_pool.view({-1, kv_heads, head_dim}).index_copy_(0, step.slots, qkv.k);
  value_pool.view({-1, kv_heads, head_dim}).index_copy_(0, step.slots, qkv.v);

  auto attend = [&](const at::Tensor& grouped_q, const at::Tensor& keys, const at::Tensor& values,
                    const at::Tensor& visible) {
    at::Tensor scores = at::matmul(grouped_q, keys.transpose(-1, -2)) / config_.attention_divisor();
    if (config_.attn_logit_softcapping > 0) scores = SoftCap(scores, config_.attn_logit_softcapping);
    scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
    return at::matmul(at::softmax(scores, -1), values);
  };

  at::Tensor merged = at::empty({rows, heads * head_dim}, x.options());
  if (!step.decode.token_rows.empty()) {
    const at::Tensor q = qkv.q.contiguous();  // [N, heads, D]
    DecodeAttentionArgs args;
    args.q = q.data_ptr<float>();
    args.q_row_stride = heads * head_dim;
    args.out = merged.data_ptr<float>();
    args.out_row_stride = heads * head_dim;
    args.key_pool = key_pool.data_ptr<float>();
    args.value_pool = value_pool.data_ptr<float>();
    args.block_size = cache->block_size;
    args.heads = heads;
    args.kv_heads = kv_heads;
    args.head_dim = head_dim;
    args.divisor = static_cast<float>(config_.attention_divisor());
    args.softcap = static_cast<float>(config_.attn_logit_softcapping);
    args.window = sliding ? config_.sliding_window : 0;
    args.rows = static_cast<int64_t>(step.decode.token_rows.size());
    args.token_rows = step.decode.token_rows.data();
    args.positions = step.decode.positions.data();
    args.block_tables = step.decode.block_tables.data();
    DecodeAttention(args);
  }
  for (const PagedStepTensors::Chunk& chunk : step.chunks) {
    // [KV, G, n, D] queries against [KV, 1, T, D] keys.
    const at::Tensor q = qkv.q.narrow(0, chunk.first_row, chunk.count)
                             .view({chunk.count, kv_heads, group, head_dim})
                             .permute({1, 2, 0, 3});
    auto gather = [&](const at::Tensor& pool) {
      return pool.index_select(0, chunk.blocks)
          .view({-1, kv_heads, head_dim})
          .narrow(0, 0, chunk.key_length)
          .permute({1, 0, 2})
          .unsqueeze(1);
    };
    const at::Tensor out = attend(q, gather(key_pool), gather(value_pool),
                                  sliding ? chunk.visible_sliding : chunk.visible);  // [KV, G, n, D]
    merged.narrow(0, chunk.first_row, chunk.count).copy_(out.permute({2, 0, 1, 3}).reshape({chunk.count, -1}));
  }
  return Project(layer.o_proj, layer_index, kOProj, merged, adapters);
}

absl::StatusOr<at::Tensor> DecoderModel::Logits(const at::Tensor& hidden) const {
  return CallTorch("language-model head", [&] {
    at::Tensor logits;
    if (packed_lm_head_.packed != nullptr) {
      logits = ApplyProjection(packed_lm_head_, hidden);
    } else {
      Projection head;
      head.weight = lm_head_weight();
      logits = ApplyProjection(head, hidden);
    }
    if (config_.final_logit_softcapping > 0) logits = SoftCap(logits, config_.final_logit_softcapping);
    return logits;
  });
}

}  // namespace promptintern
