#include "core/kernels/packed_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/kernels/kernel_isa.h"
#include "core/kernels/simd/linear_simd.h"

namespace promptintern {
namespace {

// Each thread's share of a call reads at least this many weight bytes: below it, waking a
// second thread costs more than it saves.
constexpr int64_t kMinBytesPerThread = 64 * 1024;
// The widened float32 block of a large-batch call without the small kernels: about 2 MiB.
constexpr int64_t kUnpackBlockBytes = 2 * 1024 * 1024;

simd::WeightType KernelType(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return simd::WeightType::kF32;
    case WeightFormat::kBF16:
      return simd::WeightType::kBF16;
    case WeightFormat::kF16:
      return simd::WeightType::kF16;
    case WeightFormat::kInt8:
      return simd::WeightType::kInt8;
  }
  return simd::WeightType::kF32;
}

// One instruction set's entry points (linear_simd.h): the small-batch kernel and the widening of
// the large-batch path.
struct IsaKernels {
  void (*linear)(const simd::LinearTask&);
  void (*widen)(const simd::LinearTask&, float*);
};

IsaKernels KernelsFor(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512Bf16:
      return {simd::LinearAvx512Bf16, simd::WidenAvx512};
    case KernelIsa::kAvx512:
      return {simd::LinearAvx512, simd::WidenAvx512};
    case KernelIsa::kAvx2:
      return {simd::LinearAvx2, simd::WidenAvx2};
    case KernelIsa::kScalar:
      return {simd::LinearScalar, simd::WidenScalar};
  }
  return {simd::LinearScalar, simd::WidenScalar};
}

// x rounded to bfloat16 rows of weight.row_stride() values, zero past in: the vdpbf16ps operand.
// One buffer per calling thread, grown once.
const uint16_t* RoundActivations(const float* x, int64_t rows, const PackedWeight& weight) {
  thread_local std::vector<uint16_t> buffer;
  const int64_t stride = weight.row_stride();
  const int64_t in = weight.in_features();
  if (static_cast<int64_t>(buffer.size()) < rows * stride) buffer.resize(rows * stride);
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* row = buffer.data() + r * stride;
    simd::RoundToBf16Avx512Bf16(x + r * in, in, row);
    std::memset(row + in, 0, (stride - in) * sizeof(uint16_t));
  }
  return buffer.data();
}

// The weight's half of a kernel task (linear_simd.h).
simd::LinearTask WeightTask(const PackedWeight& weight) {
  simd::LinearTask task;
  task.type = KernelType(weight.format());
  task.weights = weight.data();
  task.row_stride = weight.row_stride();
  task.in = weight.in_features();
  task.scales = weight.scales();
  task.group_size = weight.group_size();
  task.groups_per_row = weight.groups_per_row();
  return task;
}

// The small-batch kernels on contiguous x [rows, in] and y [rows, out].
void SmallBatch(const float* x, int64_t rows, const PackedWeight& weight, float* y) {
  const KernelIsa isa = ActiveKernelIsa();
  simd::LinearTask task = WeightTask(weight);
  task.x = x;
  task.x_stride = weight.in_features();
  task.rows = rows;
  task.y = y;
  task.y_stride = weight.out_features();
  if (isa == KernelIsa::kAvx512Bf16 && weight.format() == WeightFormat::kBF16) {
    task.x_bf16 = RoundActivations(x, rows, weight);
  }
  const auto kernel = KernelsFor(isa).linear;
  // Threads take whole panels of 8 output rows (the kernels' unit).
  const int64_t out = weight.out_features();
  const int64_t panels = (out + simd::kPanelRows - 1) / simd::kPanelRows;
  const int64_t panel_bytes = std::max<int64_t>(1, weight.bytes() / panels);
  at::parallel_for(0, panels, std::max<int64_t>(1, kMinBytesPerThread / panel_bytes), [&](int64_t begin, int64_t end) {
    simd::LinearTask part = task;
    part.out_begin = begin * simd::kPanelRows;
    part.out_end = std::min(out, end * simd::kPanelRows);
    kernel(part);
  });
}

// Many rows: compute-bound, so BLAS on float32 weights. Other formats are widened a block of rows
// at a time, in one pass of the SIMD widening (linear_simd.h) into a buffer reused across calls,
// and multiplied into their columns of y. (Widening with libtorch operators, several passes and
// temporaries per block, took as long as the gemm: 110M int8 prefill ran at half f32's speed.)
void LargeBatch(const at::Tensor& x2d, const PackedWeight& weight, at::Tensor& y2d) {
  if (weight.format() == WeightFormat::kF32) {
    at::mm_out(y2d, x2d, weight.Unpack().t());
    return;
  }
  const int64_t out = weight.out_features();
  const int64_t stride = weight.row_stride();
  const int64_t block =
      std::max<int64_t>(64, kUnpackBlockBytes / (stride * 4)) / simd::kPanelRows * simd::kPanelRows;
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < block * stride) buffer.resize(block * stride);
  const at::Tensor widened = at::from_blob(buffer.data(), {block, stride}, at::TensorOptions().dtype(at::kFloat));
  const auto widen = KernelsFor(ActiveKernelIsa()).widen;
  const simd::LinearTask task = WeightTask(weight);
  float* const rows = buffer.data();
  for (int64_t begin = 0; begin < out; begin += block) {
    const int64_t end = std::min(out, begin + block);
    const int64_t panels = (end - begin + simd::kPanelRows - 1) / simd::kPanelRows;
    at::parallel_for(0, panels, 1, [&](int64_t first, int64_t last) {
      simd::LinearTask part = task;
      part.out_begin = begin + first * simd::kPanelRows;
      part.out_end = std::min(end, begin + last * simd::kPanelRows);
      widen(part, rows + first * simd::kPanelRows * stride);
    });
    at::Tensor columns = y2d.narrow(1, begin, end - begin);
    at::mm_out(columns, x2d, widened.narrow(0, 0, end - begin).narrow(1, 0, weight.in_features()).t());
  }
}

}  // namespace

void PackedLinearOut(const at::Tensor& x, const PackedWeight& weight, at::Tensor& y) {
  TORCH_CHECK(!weight.empty(), "PackedLinear: empty weight");
  TORCH_CHECK(x.scalar_type() == at::kFloat, "PackedLinear: x must be float32, got ", x.scalar_type());
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weight.in_features(), "PackedLinear: x has ", x.sizes(),
              ", the weight takes ", weight.in_features(), " inputs");
  TORCH_CHECK(y.scalar_type() == at::kFloat && y.is_contiguous() && y.dim() == x.dim() &&
                  y.size(-1) == weight.out_features() && y.numel() / weight.out_features() == x.numel() / weight.in_features(),
              "PackedLinear: y must be a contiguous float32 tensor of x's shape with ", weight.out_features(),
              " outputs, got ", y.sizes());
  const int64_t rows = x.numel() / weight.in_features();
  if (rows == 0) return;
  const at::Tensor input = x.is_contiguous() ? x : x.contiguous();
  if (rows <= kSmallBatchRows) {
    SmallBatch(input.data_ptr<float>(), rows, weight, y.data_ptr<float>());
    return;
  }
  at::Tensor y2d = y.view({rows, weight.out_features()});
  LargeBatch(input.view({rows, weight.in_features()}), weight, y2d);
}

at::Tensor PackedLinear(const at::Tensor& x, const PackedWeight& weight) {
  TORCH_CHECK(x.dim() >= 1, "PackedLinear: x must have at least one dimension");
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = weight.out_features();
  at::Tensor y = at::empty(shape, x.options().dtype(at::kFloat).memory_format(at::MemoryFormat::Contiguous));
  PackedLinearOut(x, weight, y);
  return y;
}

}  // namespace promptintern
