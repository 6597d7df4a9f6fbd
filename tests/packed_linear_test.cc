// The serving weight kernels against at::linear in float64 on the same (packed) weights, for every
// format and every instruction-set path this CPU can run, on odd shapes; the formats' rounding
// against libtorch's own conversions; the file form's round trip and its refusal of bad files.
//
// Tolerance of a kernel output y against the float64 reference: |y - ref| <= (in + 16) 2^-24 S,
// S = sum_k |x_k| |W_k|: the worst-case error of float32 accumulation over `in` terms.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/kernels/kernel_isa.h"
#include "core/kernels/packed_linear.h"
#include "core/kernels/packed_weight.h"
#include "core/kernels/simd/linear_simd.h"
#include "core/kernels/weight_storage.h"
#include "core/model/decoder.h"
#include "core/platform/cpu_features.h"
#include "core/util/sha256.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

struct Shape {
  int64_t in;
  int64_t out;
};
// Inputs not a multiple of any vector or block (1, 7, 31, 33, 100, 257, 773) as well as exact ones.
const Shape kShapes[] = {{1, 1}, {7, 3}, {31, 9}, {32, 8}, {33, 17}, {100, 5}, {257, 67}, {773, 40}, {64, 130}};

struct FormatCase {
  const char* name;
  PackOptions options;
};
const FormatCase kFormats[] = {
    {"f32", {WeightFormat::kF32, 32}},     {"bf16", {WeightFormat::kBF16, 32}},    {"f16", {WeightFormat::kF16, 32}},
    {"int8/32", {WeightFormat::kInt8, 32}}, {"int8/64", {WeightFormat::kInt8, 64}}, {"int8/row", {WeightFormat::kInt8, 0}},
};

std::vector<KernelIsa> RunnableLevels() {
  std::vector<KernelIsa> levels;
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512, KernelIsa::kAvx512Bf16}) {
    if (isa <= SupportedKernelIsa(HostCpu())) levels.push_back(isa);
  }
  return levels;
}

// Checks y = x W^T against float64 arithmetic on `x_reference` and the packed weight's own values.
void ExpectMatchesReference(const at::Tensor& y, const at::Tensor& x_reference, const PackedWeight& weight,
                            const std::string& label) {
  const at::Tensor w = weight.Unpack().to(at::kDouble);
  const at::Tensor x = x_reference.to(at::kDouble);
  const at::Tensor reference = at::matmul(x, w.t());
  const at::Tensor magnitude = at::matmul(x.abs(), w.abs().t());
  const double unit = (weight.in_features() + 16) * std::ldexp(1.0, -24);
  const at::Tensor excess = (y.to(at::kDouble) - reference).abs() - magnitude * unit;
  ASSERT_EQ(y.sizes(), reference.sizes()) << label;
  EXPECT_LE(excess.max().item<double>(), 1e-30) << label << ": worst error beyond the bound "
                                                 << excess.max().item<double>();
}

TEST(PackedLinearTest, EveryFormatAndInstructionSetMatchesFloat64) {
  at::manual_seed(11);
  for (KernelIsa isa : RunnableLevels()) {
    ScopedKernelIsaLimit limit(isa);
    ASSERT_THAT(limit.status(), IsOk());
    ASSERT_EQ(ActiveKernelIsa(), isa);
    int64_t rows = 1;
    for (const Shape& shape : kShapes) {
      const at::Tensor w = at::randn({shape.out, shape.in});
      for (const FormatCase& format : kFormats) {
        auto packed = PackWeight(w, format.options);
        ASSERT_THAT(packed, IsOk());
        // rows cycles through 1..17 (17 takes the large-batch path).
        rows = rows % 17 + 1;
        const at::Tensor x = at::randn({rows, shape.in});
        const at::Tensor y = PackedLinear(x, *packed);
        const bool rounds_x = isa == KernelIsa::kAvx512Bf16 && packed->format() == WeightFormat::kBF16 &&
                              rows <= kSmallBatchRows;
        const at::Tensor x_reference = rounds_x ? x.to(at::kBFloat16).to(at::kFloat) : x;
        ExpectMatchesReference(y, x_reference, *packed,
                               std::string(KernelIsaName(isa)) + " " + format.name + " in " + std::to_string(shape.in) +
                                   " out " + std::to_string(shape.out) + " rows " + std::to_string(rows));
      }
    }
  }
}

TEST(PackedLinearTest, EveryRowCountUpToTheLargeBatchPath) {
  at::manual_seed(12);
  const at::Tensor w = at::randn({45, 129});
  for (KernelIsa isa : RunnableLevels()) {
    ScopedKernelIsaLimit limit(isa);
    for (const FormatCase& format : kFormats) {
      auto packed = PackWeight(w, format.options);
      ASSERT_THAT(packed, IsOk());
      for (int64_t rows = 1; rows <= 20; ++rows) {
        const at::Tensor x = at::randn({rows, 129});
        const bool rounds_x = isa == KernelIsa::kAvx512Bf16 && format.options.format == WeightFormat::kBF16 &&
                              rows <= kSmallBatchRows;
        ExpectMatchesReference(PackedLinear(x, *packed), rounds_x ? x.to(at::kBFloat16).to(at::kFloat) : x, *packed,
                               std::string(KernelIsaName(isa)) + " " + format.name + " rows " + std::to_string(rows));
      }
    }
  }
}

// The large-batch path widens a block of about 2 MiB of float32 rows at a time: a weight of
// several blocks, with a last one that is not a whole panel, on every level.
TEST(PackedLinearTest, LargeBatchesAcrossSeveralWidenedBlocks) {
  at::manual_seed(13);
  const at::Tensor w = at::randn({301, 4000});  // 4000 inputs: blocks of 128 rows, then 45
  const at::Tensor x = at::randn({24, 4000});
  for (KernelIsa isa : RunnableLevels()) {
    ScopedKernelIsaLimit limit(isa);
    for (const FormatCase& format : kFormats) {
      auto packed = PackWeight(w, format.options);
      ASSERT_THAT(packed, IsOk());
      ExpectMatchesReference(PackedLinear(x, *packed), x, *packed, std::string(KernelIsaName(isa)) + " " + format.name);
    }
  }
}

// The bfloat16 rounding of x on the vdpbf16ps path costs at most 2^-8 relative per product (plus
// float32 accumulation).
TEST(PackedLinearTest, Bf16DotProductPathStaysWithinTheActivationRounding) {
  if (SupportedKernelIsa(HostCpu()) < KernelIsa::kAvx512Bf16) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  at::manual_seed(13);
  const at::Tensor w = at::randn({64, 300});
  const at::Tensor x = at::randn({3, 300});
  auto packed = PackWeight(w, {WeightFormat::kBF16});
  ASSERT_THAT(packed, IsOk());
  const at::Tensor exact = at::matmul(x.to(at::kDouble), packed->Unpack().to(at::kDouble).t());
  const at::Tensor magnitude = at::matmul(x.abs().to(at::kDouble), packed->Unpack().abs().to(at::kDouble).t());
  const at::Tensor error = (PackedLinear(x, *packed).to(at::kDouble) - exact).abs();
  EXPECT_LE((error - magnitude * (std::ldexp(1.0, -8) + 316 * std::ldexp(1.0, -24))).max().item<double>(), 0.0);
}

TEST(PackedLinearTest, LeadingDimensionsStridesAndThreadsDoNotChangeTheResult) {
  at::manual_seed(14);
  const at::Tensor w = at::randn({1000, 96});
  auto packed = PackWeight(w, {WeightFormat::kInt8, 32});
  ASSERT_THAT(packed, IsOk());
  const at::Tensor x = at::randn({2, 3, 96});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one_thread = PackedLinear(x, *packed);
  at::set_num_threads(2);
  const at::Tensor two_threads = PackedLinear(x, *packed);
  at::set_num_threads(threads);
  EXPECT_EQ(one_thread.sizes(), (std::vector<int64_t>{2, 3, 1000}));
  EXPECT_TRUE(at::equal(one_thread, two_threads));
  // A transposed (non-contiguous) x gives the same rows.
  const at::Tensor strided = x.reshape({6, 96}).t().contiguous().t();
  ASSERT_FALSE(strided.is_contiguous());
  EXPECT_TRUE(at::equal(PackedLinear(strided, *packed), one_thread.reshape({6, 1000})));
  // Into a preallocated output.
  at::Tensor y = at::empty({2, 3, 1000});
  PackedLinearOut(x, *packed, y);
  EXPECT_TRUE(at::equal(y, one_thread));
}

TEST(PackedLinearTest, ShapeMismatchesThrowLikeAtLinear) {
  auto packed = PackWeight(at::randn({4, 8}));
  ASSERT_THAT(packed, IsOk());
  EXPECT_THROW(PackedLinear(at::randn({2, 7}), *packed), c10::Error);
  EXPECT_THROW(PackedLinear(at::randn({2, 8}, at::kDouble), *packed), c10::Error);
  at::Tensor wrong = at::empty({2, 5});
  EXPECT_THROW(PackedLinearOut(at::randn({2, 8}), *packed, wrong), c10::Error);
  EXPECT_THROW(PackedLinear(at::randn({2, 8}), PackedWeight()), c10::Error);
}

TEST(KernelIsaTest, LevelsCanBeCappedButNotRaised) {
  const KernelIsa supported = SupportedKernelIsa(HostCpu());
  EXPECT_EQ(ActiveKernelIsa(), supported);
  {
    ScopedKernelIsaLimit limit(KernelIsa::kScalar);
    EXPECT_EQ(ActiveKernelIsa(), KernelIsa::kScalar);
  }
  EXPECT_EQ(ActiveKernelIsa(), supported);
  if (supported < KernelIsa::kAvx512Bf16) {
    EXPECT_THAT(LimitKernelIsa(KernelIsa::kAvx512Bf16), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(*ParseKernelIsa("avx512_bf16"), KernelIsa::kAvx512Bf16);
  EXPECT_FALSE(ParseKernelIsa("sse9").ok());
}

// The 16-bit formats round exactly as libtorch's conversions (round to nearest, ties to even).
TEST(WeightFormatTest, SixteenBitConversionsMatchLibtorch) {
  at::manual_seed(15);
  std::vector<float> values;
  const at::Tensor random = at::randn({20000}) * at::pow(10.0, at::randint(-9, 6, {20000}).to(at::kFloat));
  values.assign(random.data_ptr<float>(), random.data_ptr<float>() + random.numel());
  for (float special : {0.0f, -0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, -70000.0f, 5.96e-8f, 2.98e-8f, 2.99e-8f,
                        6.1e-5f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, INFINITY, -INFINITY, 3.0e38f}) {
    values.push_back(special);
  }
  for (uint32_t tie : {0x3f808000u, 0x3f818000u, 0x00018000u}) {  // bfloat16 ties: to even
    float value;
    std::memcpy(&value, &tie, sizeof value);
    values.push_back(value);
  }
  const at::Tensor source = at::from_blob(values.data(), {static_cast<int64_t>(values.size())}, at::kFloat);
  const at::Tensor bf16 = source.to(at::kBFloat16);
  const at::Tensor half = source.to(at::kHalf);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(simd::FloatToBf16(values[i]), reinterpret_cast<const uint16_t*>(bf16.data_ptr())[i]) << values[i];
    EXPECT_EQ(simd::FloatToHalf(values[i]), reinterpret_cast<const uint16_t*>(half.data_ptr())[i]) << values[i];
  }
  // Every half bit pattern widens as libtorch widens it.
  std::vector<uint16_t> patterns(65536);
  for (int i = 0; i < 65536; ++i) patterns[i] = static_cast<uint16_t>(i);
  const at::Tensor widened = at::from_blob(patterns.data(), {65536}, at::kHalf).to(at::kFloat);
  for (int i = 0; i < 65536; ++i) {
    const float expected = widened.data_ptr<float>()[i];
    const float actual = simd::HalfToFloat(patterns[i]);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(actual)) << i;
    } else {
      EXPECT_EQ(std::memcmp(&expected, &actual, sizeof actual), 0) << i;
    }
  }
}

TEST(WeightFormatTest, Avx512Bf16RoundingMatchesTheScalarRounding) {
  if (SupportedKernelIsa(HostCpu()) < KernelIsa::kAvx512Bf16) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  at::manual_seed(16);
  const at::Tensor x = at::randn({1003}) * 100;  // normal values (the instruction flushes denormals)
  std::vector<uint16_t> scalar(1003), vector(1003, 0xffff);
  simd::RoundToBf16Scalar(x.data_ptr<float>(), 1003, scalar.data());
  simd::RoundToBf16Avx512Bf16(x.data_ptr<float>(), 1003, vector.data());
  EXPECT_EQ(scalar, vector);
}

// int8: every weight within half a quantization step of its block's scale; blocks of 32 beat one
// scale per row on a row with an outlier (the reason 32 is the default).
TEST(WeightFormatTest, Int8QuantizationErrorIsHalfAStep) {
  at::manual_seed(17);
  at::Tensor w = at::randn({16, 200});
  w.index_put_({3, 5}, 40.0f);  // an outlier
  auto blocks = PackWeight(w, {WeightFormat::kInt8, 32});
  auto rows = PackWeight(w, {WeightFormat::kInt8, 0});
  ASSERT_TRUE(blocks.ok() && rows.ok());
  EXPECT_EQ(blocks->groups_per_row(), 7);
  EXPECT_EQ(rows->groups_per_row(), 1);
  ASSERT_EQ(blocks->Scales().sizes(), (std::vector<int64_t>{16, 7}));
  const at::Tensor scales = blocks->Scales().repeat_interleave(32, 1).narrow(1, 0, 200);
  EXPECT_LE(((blocks->Unpack() - w).abs() - scales * 0.5 * (1 + 1e-6)).max().item<float>(), 0.0f);
  const double block_error = (blocks->Unpack() - w).norm().item<double>();
  const double row_error = (rows->Unpack() - w).norm().item<double>();
  EXPECT_LT(block_error, row_error);
  // bfloat16 and float16 weights within their rounding of the original.
  auto bf16 = PackWeight(w, {WeightFormat::kBF16});
  auto f16 = PackWeight(w, {WeightFormat::kF16});
  EXPECT_LE(((bf16->Unpack() - w).abs() - w.abs() * std::ldexp(1.0, -8)).max().item<float>(), 0.0f);
  EXPECT_LE(((f16->Unpack() - w).abs() - w.abs() * std::ldexp(1.0, -11)).max().item<float>(), 1e-7f);
  // f32 packing shares the tensor instead of copying it, unless asked for weight storage.
  auto f32 = PackWeight(w);
  EXPECT_EQ(f32->data(), w.data_ptr());
  PackOptions copied;
  copied.f32_in_weight_storage = true;
  auto f32_copy = PackWeight(w, copied);
  EXPECT_NE(f32_copy->data(), w.data_ptr());
  EXPECT_TRUE(at::equal(f32_copy->Unpack(), w));
  EXPECT_EQ(f32->bytes(), 16 * 200 * 4);
  EXPECT_EQ(blocks->bytes(), 16 * 224 + 16 * 7 * 4);
}

// On a real checkpoint's weights (stories260K), the relative RMS error of each format, of the
// weights and of y = x W^T for random x, printed (docs/PERFORMANCE.md quotes them) and bounded.
TEST(WeightFormatTest, FormatErrorsOnStories260KWeights) {
  const std::string dir = ::promptintern::testing::Stories260KDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  auto model = LoadModel(dir);
  ASSERT_THAT(model, IsOk());
  at::manual_seed(20);
  for (const FormatCase& format : kFormats) {
    double weight_error = 0, weight_norm = 0, output_error = 0, output_norm = 0;
    for (const auto& [name, w] : (*model)->NamedWeights()) {
      if (w.dim() != 2) continue;
      auto packed = PackWeight(w, format.options);
      ASSERT_TRUE(packed.ok()) << name << ": " << packed.status();
      weight_error += (packed->Unpack() - w).pow(2).sum().item<double>();
      weight_norm += w.pow(2).sum().item<double>();
      const at::Tensor x = at::randn({4, w.size(1)});
      const at::Tensor exact = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
      output_error += (PackedLinear(x, *packed).to(at::kDouble) - exact).pow(2).sum().item<double>();
      output_norm += exact.pow(2).sum().item<double>();
    }
    const double weight_relative = std::sqrt(weight_error / weight_norm);
    const double output_relative = std::sqrt(output_error / output_norm);
    std::printf("stories260K %-9s relative RMS error: weights %.2e, outputs %.2e\n", format.name, weight_relative,
                output_relative);
    const double bound = format.options.format == WeightFormat::kF32    ? 1e-6
                         : format.options.format == WeightFormat::kF16  ? 1e-3
                         : format.options.format == WeightFormat::kBF16 ? 4e-3
                                                                        : 2e-2;
    EXPECT_LT(weight_relative, bound) << format.name;
    EXPECT_LT(output_relative, bound) << format.name;
  }
}

TEST(WeightFormatTest, PackingRefusesWhatItCannotRepresent) {
  EXPECT_THAT(PackWeight(at::randn({4})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PackWeight(at::randn({4, 4}, at::kDouble)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PackWeight(at::randn({0, 4})), StatusIs(absl::StatusCode::kInvalidArgument));
  at::Tensor nan = at::randn({4, 4});
  nan.index_put_({1, 1}, NAN);
  EXPECT_THAT(PackWeight(nan, {WeightFormat::kInt8}), StatusIs(absl::StatusCode::kInvalidArgument));
  const auto large = PackWeight(at::full({2, 2}, 70000.0f), {WeightFormat::kF16});
  EXPECT_THAT(large, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(large.status().message().find("65504"), std::string::npos);
  EXPECT_THAT(PackWeight(at::full({2, 2}, 70000.0f), {WeightFormat::kBF16}), IsOk());
  EXPECT_FALSE(PackWeight(at::randn({2, 64}), {WeightFormat::kInt8, 48}).ok());
  EXPECT_FALSE(PackWeight(at::randn({2, 64}), {WeightFormat::kInt8, -32}).ok());
  EXPECT_EQ(*ParseWeightFormat("int8"), WeightFormat::kInt8);
  EXPECT_FALSE(ParseWeightFormat("q4").ok());
}

#if !defined(__SANITIZE_ADDRESS__)
// The VmFlags of the mapping of /proc/self/smaps that holds `address` ("" when none does).
std::string MappingFlags(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto where = reinterpret_cast<uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2 && line.find('-') < line.find(' ')) {
      inside = begin <= where && where < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}
#endif

TEST(WeightStorageTest, TensorsAreAlignedSeparateAndOutliveEachOther) {
  std::vector<at::Tensor> tensors;
  for (int64_t i = 0; i < 40; ++i) {  // 40 x 3 MiB: more than one shared mapping
    tensors.push_back(AllocateWeightStorage({3 << 18}, at::kFloat));
    tensors.back().fill_(static_cast<float>(i));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensors.back().data_ptr()) % 64, 0u);
  }
  at::Tensor small = AllocateWeightStorage({3, 5}, at::kChar);
  small.fill_(7);
  at::Tensor large = AllocateWeightStorage({80 << 18}, at::kFloat);  // 80 MiB: a mapping of its own
  large.fill_(-1.0f);
  // Freeing every other tensor (and so, in time, whole mappings) leaves the rest intact.
  for (size_t i = 0; i < tensors.size(); i += 2) tensors[i] = at::Tensor();
  for (size_t i = 1; i < tensors.size(); i += 2) {
    EXPECT_EQ(tensors[i].min().item<float>(), static_cast<float>(i));
    EXPECT_EQ(tensors[i].max().item<float>(), static_cast<float>(i));
  }
  EXPECT_EQ(small.sum().item<int64_t>(), 7 * 15);
  EXPECT_EQ(large.sum().item<double>(), -static_cast<double>(80 << 18));
#if !defined(__SANITIZE_ADDRESS__)  // which serves weight storage from the heap
  // Marked for 2 MiB pages ("hg" in the mapping's VmFlags), whatever the machine then grants.
  EXPECT_NE(MappingFlags(tensors[1].data_ptr()).find(" hg"), std::string::npos) << MappingFlags(tensors[1].data_ptr());
  EXPECT_NE(MappingFlags(large.data_ptr()).find(" hg"), std::string::npos);
#endif
}

TEST(PackedWeightFileTest, RoundTripsEveryFormat) {
  at::manual_seed(18);
  const at::Tensor w = at::randn({37, 75});
  const at::Tensor x = at::randn({3, 75});
  for (const FormatCase& format : kFormats) {
    auto packed = PackWeight(w, format.options);
    ASSERT_THAT(packed, IsOk());
    auto bytes = SerializePackedWeight(*packed);
    ASSERT_THAT(bytes, IsOk());
    auto parsed = ParsePackedWeight(*bytes);
    ASSERT_TRUE(parsed.ok()) << format.name << ": " << parsed.status();
    EXPECT_EQ(parsed->format(), packed->format());
    EXPECT_EQ(parsed->group_size(), packed->group_size());
    EXPECT_EQ(parsed->int8_group_size_option(), packed->int8_group_size_option());
    EXPECT_TRUE(at::equal(parsed->Unpack(), packed->Unpack())) << format.name;
    EXPECT_TRUE(at::equal(PackedLinear(x, *parsed), PackedLinear(x, *packed))) << format.name;
    EXPECT_EQ(*SerializePackedWeight(*parsed), *bytes) << format.name;
  }
}

// Rewrites the checksum so that a change reaches the checks behind it.
std::string Resealed(std::string bytes) {
  const size_t body = bytes.size() - 64;
  bytes.replace(body, 64, *Sha256Hex(absl::string_view(bytes.data(), body)));
  return bytes;
}

void PutU64(std::string& bytes, size_t offset, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

TEST(PackedWeightFileTest, RefusesTruncatedAlteredAndLyingFiles) {
  at::manual_seed(19);
  auto packed = PackWeight(at::randn({9, 70}), {WeightFormat::kInt8, 32});
  ASSERT_THAT(packed, IsOk());
  const std::string good = *SerializePackedWeight(*packed);
  ASSERT_EQ(good.size(), 64 + 9 * 70 + 9 * 3 * 4 + 64);

  for (size_t length : {size_t{0}, size_t{5}, size_t{8}, size_t{63}, size_t{100}, good.size() / 2, good.size() - 1}) {
    const auto status = ParsePackedWeight(std::string_view(good).substr(0, length)).status();
    EXPECT_FALSE(status.ok()) << length;
    if (length >= 8) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss)) << length << ": " << status;
    }
  }
  EXPECT_NE(ParsePackedWeight(good + "x").status().message().find("past its end"), std::string::npos);

  std::string flipped = good;
  flipped[64 + 100] ^= 0x10;
  EXPECT_NE(ParsePackedWeight(flipped).status().message().find("checksum"), std::string::npos);

  std::string magic = good;
  magic[0] = 'X';
  EXPECT_THAT(ParsePackedWeight(magic), StatusIs(absl::StatusCode::kInvalidArgument));

  std::string version = good;
  version[8] = 2;
  EXPECT_NE(ParsePackedWeight(Resealed(version)).status().message().find("version 2"), std::string::npos);

  struct Lie {
    size_t offset;
    uint64_t value;
    const char* expected;
  };
  for (const Lie& lie : {Lie{16, 10, "data bytes"}, Lie{24, 71, "data bytes"}, Lie{16, 0, "shape"},
                         Lie{16, uint64_t{1} << 40, "shape"}, Lie{32, 48, "group size"}, Lie{40, 631, "data bytes"},
                         Lie{48, 28, "scales"}, Lie{56, 1, "reserved"}}) {
    std::string lying = good;
    PutU64(lying, lie.offset, lie.value);
    const auto status = ParsePackedWeight(Resealed(lying)).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss)) << lie.offset;
    EXPECT_NE(status.message().find(lie.expected), std::string::npos) << lie.offset << ": " << status;
  }
  std::string format = good;
  format[12] = 9;
  EXPECT_NE(ParsePackedWeight(Resealed(format)).status().message().find("format"), std::string::npos);

  // A well-formed, correctly sealed file whose first scale is NaN, then negative.
  for (float scale : {NAN, -1.0f}) {
    std::string bad_scale = good;
    std::memcpy(&bad_scale[64 + 9 * 70], &scale, sizeof scale);
    EXPECT_NE(ParsePackedWeight(Resealed(bad_scale)).status().message().find("scale"), std::string::npos) << scale;
  }
  // A bf16 file with an infinite weight.
  auto bf16 = PackWeight(at::randn({2, 3}), {WeightFormat::kBF16});
  std::string infinite = *SerializePackedWeight(*bf16);
  infinite[64] = static_cast<char>(0x80);  // 0x7f80, little-endian: +infinity
  infinite[65] = static_cast<char>(0x7f);
  EXPECT_NE(ParsePackedWeight(Resealed(infinite)).status().message().find("not finite"), std::string::npos);
}

}  // namespace
}  // namespace promptintern
