#include "core/kernels/packed_weight.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/kernels/simd/linear_simd.h"
#include "core/kernels/weight_storage.h"
#include "core/util/round_up.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed weight format is little-endian; this file copies host memory as is"
#endif

namespace promptintern {
namespace {

constexpr char kMagic[8] = {'P', 'I', 'W', 'E', 'I', 'G', 'H', 'T'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kChecksumBytes = 64;  // SHA-256 as hex
constexpr int64_t kRowAlignment = simd::kPanelChunk;  // rows of the 16-bit and int8 formats
constexpr int64_t kMaxDimension = int64_t{1} << 31;
constexpr float kHalfMax = 65504.0f;
// Float32 bytes of the rows quantized to int8 at once.
constexpr int64_t kQuantizeBlockBytes = 4 << 20;


int64_t ElementBytes(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return 4;
    case WeightFormat::kBF16:
    case WeightFormat::kF16:
      return 2;
    case WeightFormat::kInt8:
      return 1;
  }
  return 4;
}

at::ScalarType StorageType(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return at::kFloat;
    case WeightFormat::kBF16:
      return at::kBFloat16;
    case WeightFormat::kF16:
      return at::kHalf;
    case WeightFormat::kInt8:
      return at::kChar;
  }
  return at::kFloat;
}

// The int8 layout for `in` inputs: (group size as packed, groups per row). Per row (option 0) is one
// group spanning the padded row.
absl::StatusOr<std::pair<int64_t, int64_t>> Int8Groups(int64_t in, int64_t option) {
  if (option == 0) return std::make_pair(RoundUp(in, kRowAlignment), int64_t{1});
  if (option < 0 || option % kRowAlignment != 0 || option >= kMaxDimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("int8 group size ", option, " is not 0 (per row) or a positive multiple of ", kRowAlignment));
  }
  const int64_t groups = (in + option - 1) / option;
  if (groups == 1) return std::make_pair(RoundUp(in, kRowAlignment), int64_t{1});  // one group: per row
  return std::make_pair(option, groups);
}

// A copy of `values` in weight storage (weight_storage.h: 2 MiB pages for the kernels' streams).
at::Tensor InWeightStorage(const at::Tensor& values) {
  at::Tensor stored = AllocateWeightStorage(values.sizes(), values.scalar_type());
  stored.copy_(values);
  return stored;
}

// [8 P, S] rows <-> [P, S / 32, 8, 32] panels (core/kernels/simd/linear_simd.h).
at::Tensor ToPanels(const at::Tensor& rows) {
  const int64_t panels = rows.size(0) / simd::kPanelRows;
  const int64_t chunks = rows.size(1) / simd::kPanelChunk;
  return InWeightStorage(rows.view({panels, simd::kPanelRows, chunks, simd::kPanelChunk}).permute({0, 2, 1, 3}));
}
at::Tensor FromPanels(const at::Tensor& panels) {
  return panels.permute({0, 2, 1, 3}).reshape({panels.size(0) * simd::kPanelRows, panels.size(1) * simd::kPanelChunk});
}

void AppendU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
void AppendU64(std::string* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
uint64_t ReadU64(std::string_view bytes, size_t offset) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}
uint32_t ReadU32(std::string_view bytes, size_t offset) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

bool AllFinite(const at::Tensor& values) { return at::isfinite(values).all().item<bool>(); }

}  // namespace

std::string_view WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return "f32";
    case WeightFormat::kBF16:
      return "bf16";
    case WeightFormat::kF16:
      return "f16";
    case WeightFormat::kInt8:
      return "int8";
  }
  return "f32";
}

absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name) {
  for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16, WeightFormat::kInt8}) {
    if (WeightFormatName(format) == name) return format;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown weight format '", std::string(name), "' (f32, bf16, f16, int8)"));
}

int64_t PackedWeight::bytes() const {
  int64_t total = data_.defined() ? data_.numel() * static_cast<int64_t>(data_.element_size()) : 0;
  if (scales_.defined()) total += scales_.numel() * static_cast<int64_t>(sizeof(float));
  return total;
}

void PackedWeight::Assemble(const at::Tensor& values, const at::Tensor& scales) {
  const int64_t padded_out = RoundUp(out_, simd::kPanelRows);
  at::Tensor rows = at::zeros({padded_out, row_stride_}, values.options());
  rows.narrow(0, 0, out_).narrow(1, 0, in_).copy_(values);
  data_ = ToPanels(rows);
  if (format_ != WeightFormat::kInt8) return;
  at::Tensor padded = at::zeros({padded_out, groups_per_row_}, scales.options());
  padded.narrow(0, 0, out_).copy_(scales);
  scales_ = InWeightStorage(groups_per_row_ == 1 ? padded.view({padded_out})
                                                 : padded.view({padded_out / simd::kPanelRows, simd::kPanelRows,
                                                                groups_per_row_})
                                                       .permute({0, 2, 1}));
}

at::Tensor PackedWeight::Values() const {
  if (format_ == WeightFormat::kF32) return data_;
  return FromPanels(data_).narrow(0, 0, out_).narrow(1, 0, in_).contiguous();
}

at::Tensor PackedWeight::Scales() const {
  if (format_ != WeightFormat::kInt8) return at::Tensor();
  const at::Tensor rows = groups_per_row_ == 1 ? scales_.view({-1, 1})
                                               : scales_.permute({0, 2, 1}).reshape({-1, groups_per_row_});
  return rows.narrow(0, 0, out_).contiguous();
}

at::Tensor PackedWeight::UnpackRows(int64_t begin, int64_t end) const {
  if (format_ == WeightFormat::kF32) return data_.narrow(0, begin, end - begin);
  const int64_t first = begin / simd::kPanelRows;
  const int64_t last = (end + simd::kPanelRows - 1) / simd::kPanelRows;
  at::Tensor rows = FromPanels(data_.narrow(0, first, last - first)).to(at::kFloat);  // [8 (last - first), S]
  if (format_ == WeightFormat::kInt8) {
    const int64_t count = (last - first) * simd::kPanelRows;
    if (groups_per_row_ == 1) {
      rows = rows * scales_.narrow(0, first * simd::kPanelRows, count).unsqueeze(1);
    } else {
      const at::Tensor scales = scales_.narrow(0, first, last - first).permute({0, 2, 1}).reshape({count, groups_per_row_});
      rows = rows * scales.repeat_interleave(group_size_, 1).narrow(1, 0, row_stride_);
    }
  }
  return rows.narrow(0, begin - first * simd::kPanelRows, end - begin).narrow(1, 0, in_).contiguous();
}

at::Tensor PackedWeight::Unpack() const { return UnpackRows(0, out_); }

absl::StatusOr<PackedWeight> PackWeight(const at::Tensor& weight, const PackOptions& options) {
  if (!weight.defined() || weight.dim() != 2 || weight.scalar_type() != at::kFloat) {
    return absl::InvalidArgumentError("a packed weight starts from a float32 [out, in] tensor");
  }
  const int64_t out = weight.size(0);
  const int64_t in = weight.size(1);
  if (out <= 0 || in <= 0 || out >= kMaxDimension || in >= kMaxDimension) {
    return absl::InvalidArgumentError(absl::StrCat("cannot pack a [", out, ", ", in, "] weight"));
  }
  ASSIGN_OR_RETURN(const float largest, CallTorch("packing a weight", [&] {
                     // NaN propagates through min and max; infinity is the largest. No |w| copy of
                     // the whole matrix.
                     const auto [smallest, biggest] = at::aminmax(weight);
                     return std::max(-smallest.item<float>(), biggest.item<float>());
                   }));
  if (!std::isfinite(largest)) return absl::InvalidArgumentError("the weight has non-finite values");
  if (options.format == WeightFormat::kF16 && largest > kHalfMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("a weight of magnitude ", largest, " exceeds float16's range (65504); use bf16"));
  }
  PackedWeight packed;
  packed.format_ = options.format;
  packed.out_ = out;
  packed.in_ = in;
  packed.row_stride_ = options.format == WeightFormat::kF32 ? in : RoundUp(in, kRowAlignment);
  if (options.format == WeightFormat::kInt8) {
    ASSIGN_OR_RETURN(const auto groups, Int8Groups(in, options.int8_group_size));
    packed.group_size_ = groups.first;
    packed.groups_per_row_ = groups.second;
  }
  RETURN_IF_ERROR(CallTorchVoid("packing a weight", [&] {
    const at::Tensor source = weight.contiguous();
    switch (options.format) {
      case WeightFormat::kF32:
        packed.data_ = options.f32_in_weight_storage ? InWeightStorage(source) : source;  // or shares the storage
        return;
      case WeightFormat::kBF16:
      case WeightFormat::kF16:
        packed.Assemble(source.to(StorageType(options.format)), at::Tensor());  // round-to-nearest-even
        return;
      case WeightFormat::kInt8: {
        const int64_t padded_in = packed.group_size_ * packed.groups_per_row_;
        at::Tensor q = at::empty({out, padded_in}, at::kChar);
        at::Tensor scales = at::empty({out, packed.groups_per_row_}, at::kFloat);
        // A block of rows at a time, so the float32 temporaries stay a few MiB however large the
        // matrix (a whole-matrix expression held several float32 copies of an LM head at once).
        const int64_t rows_per_block = std::max<int64_t>(1, kQuantizeBlockBytes / (padded_in * 4));
        for (int64_t begin = 0; begin < out; begin += rows_per_block) {
          const int64_t rows = std::min(rows_per_block, out - begin);
          at::Tensor padded = at::zeros({rows, padded_in}, source.options());
          padded.narrow(1, 0, in).copy_(source.narrow(0, begin, rows));
          const at::Tensor blocks = padded.view({rows, packed.groups_per_row_, packed.group_size_});
          const at::Tensor block_scales = blocks.abs().amax(-1) / 127.0f;  // [rows, groups]
          const at::Tensor inverse = at::where(block_scales > 0, 1.0f / block_scales, at::zeros_like(block_scales));
          q.narrow(0, begin, rows)
              .copy_(at::round(blocks * inverse.unsqueeze(-1)).clamp(-127, 127).to(at::kChar).view({rows, padded_in}));
          scales.narrow(0, begin, rows).copy_(block_scales);
        }
        packed.Assemble(q.narrow(1, 0, in), scales);
        return;
      }
    }
  }));
  if (options.format == WeightFormat::kBF16) {
    // bfloat16 keeps float32's range, but the largest float32 values round up to infinity.
    ASSIGN_OR_RETURN(const bool finite, CallTorch("packing a weight", [&] { return AllFinite(packed.data_); }));
    if (!finite) return absl::InvalidArgumentError("the weight overflows bfloat16");
  }
  return packed;
}

absl::StatusOr<std::string> SerializePackedWeight(const PackedWeight& weight) {
  if (weight.empty()) return absl::InvalidArgumentError("cannot serialize an empty packed weight");
  const int64_t element = ElementBytes(weight.format());
  const int64_t row_bytes = weight.in_features() * element;
  const int64_t scale_count = weight.format() == WeightFormat::kInt8 ? weight.out_features() * weight.groups_per_row() : 0;
  std::string out;
  out.reserve(kHeaderBytes + weight.out_features() * row_bytes + scale_count * 4 + kChecksumBytes);
  out.append(kMagic, sizeof kMagic);
  AppendU32(&out, kVersion);
  AppendU32(&out, static_cast<uint32_t>(weight.format()));
  AppendU64(&out, weight.out_features());
  AppendU64(&out, weight.in_features());
  AppendU64(&out, weight.int8_group_size_option());
  AppendU64(&out, weight.out_features() * row_bytes);
  AppendU64(&out, scale_count);
  AppendU64(&out, 0);
  RETURN_IF_ERROR(CallTorchVoid("serializing a packed weight", [&] {
    const at::Tensor values = weight.Values();
    out.append(static_cast<const char*>(values.data_ptr()), weight.out_features() * row_bytes);
    if (scale_count > 0) out.append(static_cast<const char*>(weight.Scales().data_ptr()), scale_count * sizeof(float));
  }));
  ASSIGN_OR_RETURN(const std::string checksum, Sha256Hex(out));
  out += checksum;
  return out;
}

absl::StatusOr<PackedWeight> ParsePackedWeight(std::string_view bytes) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return absl::InvalidArgumentError("not a packed weight (no PIWEIGHT header)");
  }
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return absl::DataLossError(absl::StrCat("packed weight truncated: ", bytes.size(), " bytes, less than its ",
                                            kHeaderBytes + kChecksumBytes, "-byte header and checksum"));
  }
  const uint32_t version = ReadU32(bytes, 8);
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("packed weight version ", version, "; this build reads version ", kVersion));
  }
  const uint32_t format_code = ReadU32(bytes, 12);
  if (format_code < 1 || format_code > 4) {
    return absl::DataLossError(absl::StrCat("packed weight: unknown format code ", format_code));
  }
  const auto format = static_cast<WeightFormat>(format_code);
  const uint64_t out = ReadU64(bytes, 16);
  const uint64_t in = ReadU64(bytes, 24);
  const uint64_t group_option = ReadU64(bytes, 32);
  const uint64_t data_bytes = ReadU64(bytes, 40);
  const uint64_t scale_count = ReadU64(bytes, 48);
  if (out == 0 || in == 0 || out >= kMaxDimension || in >= kMaxDimension) {
    return absl::DataLossError(absl::StrCat("packed weight: impossible shape [", out, ", ", in, "]"));
  }
  if (ReadU64(bytes, 56) != 0) return absl::DataLossError("packed weight: reserved header field is not zero");
  PackedWeight packed;
  packed.format_ = format;
  packed.out_ = static_cast<int64_t>(out);
  packed.in_ = static_cast<int64_t>(in);
  uint64_t expected_scales = 0;
  if (format == WeightFormat::kInt8) {
    auto groups = Int8Groups(packed.in_, group_option >= static_cast<uint64_t>(kMaxDimension) ? -1 : static_cast<int64_t>(group_option));
    if (!groups.ok()) return absl::DataLossError(absl::StrCat("packed weight: ", groups.status().message()));
    packed.group_size_ = groups->first;
    packed.groups_per_row_ = groups->second;
    expected_scales = out * static_cast<uint64_t>(packed.groups_per_row_);
  } else if (group_option != 0) {
    return absl::DataLossError(absl::StrCat("packed weight: a group size (", group_option, ") on a ",
                                            std::string(WeightFormatName(format)), " weight"));
  }
  const uint64_t expected_data = out * in * static_cast<uint64_t>(ElementBytes(format));  // < 2^64: both < 2^31
  if (data_bytes != expected_data) {
    return absl::DataLossError(absl::StrCat("packed weight: ", data_bytes, " data bytes for a [", out, ", ", in, "] ",
                                            std::string(WeightFormatName(format)), " weight, which takes ", expected_data));
  }
  if (scale_count != expected_scales) {
    return absl::DataLossError(absl::StrCat("packed weight: ", scale_count, " scales where the shape needs ", expected_scales));
  }
  const uint64_t expected_size = kHeaderBytes + expected_data + expected_scales * sizeof(float) + kChecksumBytes;
  if (bytes.size() < expected_size) {
    return absl::DataLossError(absl::StrCat("packed weight truncated: ", bytes.size(), " bytes of ", expected_size));
  }
  if (bytes.size() > expected_size) {
    return absl::DataLossError(absl::StrCat("packed weight: ", bytes.size() - expected_size, " bytes past its end"));
  }
  const size_t body = bytes.size() - kChecksumBytes;
  ASSIGN_OR_RETURN(const std::string checksum, Sha256Hex(absl::string_view(bytes.data(), body)));
  if (checksum != bytes.substr(body)) return absl::DataLossError("packed weight: checksum mismatch (the file was altered)");

  packed.row_stride_ = format == WeightFormat::kF32 ? packed.in_ : RoundUp(packed.in_, kRowAlignment);
  std::string problem;
  RETURN_IF_ERROR(CallTorchVoid("reading a packed weight", [&] {
    const char* source = bytes.data() + kHeaderBytes;
    at::Tensor values = at::empty({packed.out_, packed.in_}, at::TensorOptions().dtype(StorageType(format)));
    std::memcpy(values.data_ptr(), source, expected_data);
    at::Tensor scales;
    if (format == WeightFormat::kInt8) {
      scales = at::empty({packed.out_, packed.groups_per_row_}, at::TensorOptions().dtype(at::kFloat));
      std::memcpy(scales.data_ptr(), source + expected_data, expected_scales * sizeof(float));
      if (!AllFinite(scales) || (scales < 0).any().item<bool>()) problem = "a scale is negative or not finite";
    } else if (!AllFinite(values)) {
      problem = "a weight is not finite";
    }
    if (!problem.empty()) return;
    if (format == WeightFormat::kF32) {
      packed.data_ = values;
    } else {
      packed.Assemble(values, scales);
    }
  }));
  if (!problem.empty()) return absl::DataLossError("packed weight: " + problem);
  return packed;
}

}  // namespace promptintern
