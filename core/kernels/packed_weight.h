// A linear layer's weight [out, in] in the form the serving kernels read (packed_linear.h), and
// its file form.
//
// Formats, by bytes read per parameter and per token in a memory-bound decode:
//   f32   4     the float32 tensor itself, shared (no copy) when it is contiguous; or a copy in
//               weight storage (f32_in_weight_storage)
//   bf16  2     round-to-nearest-even bfloat16 (float32's range, 8 significant bits)
//   f16   2     round-to-nearest-even IEEE half; a weight beyond +-65504 is refused
//   int8  1.125 symmetric weight-only quantization: q = round(w / s), |q| <= 127, with one float32
//               scale s = max|w| / 127 per block of `int8_group_size` consecutive inputs of a row
//               (default 32, as llama.cpp's Q8_0; 0 = one scale per row, 1.0 byte per parameter)
// The 16-bit and int8 formats are stored in panels of 8 rows, padded with zeros to a multiple of 32
// inputs and of 8 rows, so that the kernels read a panel as one sequential stream
// (core/kernels/simd/linear_simd.h has the layout); float32 stays row-major, as BLAS needs it.
// Every format but a shared f32 tensor is stored in weight storage (weight_storage.h: 2 MiB pages).
//
// File form (SerializePackedWeight / ParsePackedWeight), little-endian:
//   "PIWEIGHT" | u32 version (1) | u32 format (1 f32, 2 bf16, 3 f16, 4 int8) | u64 out | u64 in
//   | u64 int8 group size (0 = per row; 0 for other formats) | u64 data bytes | u64 scale count
//   | u64 reserved (0) | data: out x in elements, row-major, unpadded | scales: float32
//   | 64 hex characters: SHA-256 of everything before them.
// Parsing checks every field against the others and the length, the checksum, and that scales
// and values are finite: a truncated, padded or altered file is refused with a status naming the problem.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace promptintern {

enum class WeightFormat { kF32 = 1, kBF16 = 2, kF16 = 3, kInt8 = 4 };

std::string_view WeightFormatName(WeightFormat format);  // "f32", "bf16", "f16", "int8"
absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name);

struct PackOptions {
  WeightFormat format = WeightFormat::kF32;
  int64_t int8_group_size = 32;  // a positive multiple of 32, or 0 for one scale per row
  // f32: copy the weight into weight storage instead of sharing its tensor. Serving does, for the
  // 2 MiB pages (110M f32 decode 25-29 -> 29 tokens/s), and frees the original afterwards.
  bool f32_in_weight_storage = false;
};

class PackedWeight {
 public:
  PackedWeight() = default;

  WeightFormat format() const { return format_; }
  int64_t out_features() const { return out_; }
  int64_t in_features() const { return in_; }
  // Elements per stored row: in_features for f32; padded to a multiple of 32 otherwise.
  int64_t row_stride() const { return row_stride_; }
  // int8: inputs per scale as packed (a multiple of 32; row_stride when per row); 0 otherwise.
  int64_t group_size() const { return group_size_; }
  int64_t groups_per_row() const { return groups_per_row_; }
  // The option the weight was packed with: int8_group_size, or 0 for per row (and other formats).
  int64_t int8_group_size_option() const { return format_ == WeightFormat::kInt8 && groups_per_row_ > 1 ? group_size_ : 0; }
  // The stored weights and int8 scales in the kernels' layout (linear_simd.h).
  const void* data() const { return data_.data_ptr(); }
  const float* scales() const { return scales_.defined() ? scales_.data_ptr<float>() : nullptr; }
  // int8: the scales as float32 [out, groups_per_row]; undefined for other formats.
  at::Tensor Scales() const;
  // Bytes one matmul reads: the stored rows plus the scales.
  int64_t bytes() const;
  bool empty() const { return out_ == 0; }

  // The float32 [out, in] values the kernels multiply by (dequantized / widened); for f32, the
  // packed tensor itself.
  at::Tensor Unpack() const;
  // Float32 values of output rows [begin, end), [end - begin, in].
  at::Tensor UnpackRows(int64_t begin, int64_t end) const;

 private:
  friend absl::StatusOr<PackedWeight> PackWeight(const at::Tensor& weight, const PackOptions& options);
  friend absl::StatusOr<PackedWeight> ParsePackedWeight(std::string_view bytes);
  friend absl::StatusOr<std::string> SerializePackedWeight(const PackedWeight& weight);

  // Builds the panel storage from the logical [out, in] values of the storage type and, for int8,
  // the [out, groups_per_row] scales; the shape fields must be set.
  void Assemble(const at::Tensor& values, const at::Tensor& scales);
  // The stored values as [out, in] of the storage type (no scaling).
  at::Tensor Values() const;

  WeightFormat format_ = WeightFormat::kF32;
  int64_t out_ = 0;
  int64_t in_ = 0;
  int64_t row_stride_ = 0;
  int64_t group_size_ = 0;
  int64_t groups_per_row_ = 0;
  at::Tensor data_;    // f32: [out, in]; otherwise panels [out / 8, row_stride / 32, 8, 32]
  at::Tensor scales_;  // int8: [padded out] per row, or [out / 8, groups_per_row, 8]
};

// Packs a float32 [out, in] weight. INVALID_ARGUMENT for another dtype or rank, an empty or
// non-finite weight, an f16 value out of range, or a bad group size.
absl::StatusOr<PackedWeight> PackWeight(const at::Tensor& weight, const PackOptions& options = {});

absl::StatusOr<std::string> SerializePackedWeight(const PackedWeight& weight);
// DATA_LOSS for a truncated, altered or inconsistent file; INVALID_ARGUMENT for one that is not a
// packed weight or of an unknown version.
absl::StatusOr<PackedWeight> ParsePackedWeight(std::string_view bytes);

}  // namespace promptintern
