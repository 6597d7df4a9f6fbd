// The machine's bounds (bench_support.h) and the serving weight kernels against them:
//   - bandwidth: a streaming read over a buffer 8x the last-level cache, at the thread count;
//   - matmul peak: a 1024^3 at::mm (OpenBLAS sgemm), GFLOP/s;
//   - y = x W^T per weight format at the projection shapes of a 25M and a 110M Llama layer, rows 1 and
//     8: microseconds per call, effective GB/s (weight bytes / time) and the fraction of the measured
//     bandwidth; OpenBLAS (at::mv for one row, at::linear for eight) on the same float32 weights.
// Each measurement cycles through enough copies of the weight (8x the last-level cache, as the
// bandwidth probe's buffer) that every call reads it from memory, as a decode step does. Every call
// (every 1/64 of the bandwidth probe's buffer, every matmul) is timed on its own and the figures are
// the 10th percentile and the median of --repeats rounds: on a machine shared with other work, the
// fast calls are the ones that ran with all their threads scheduled, while a best-of-rounds total
// still counts every preemption.
//
//   build/bin/kernel_bench [--threads N] [--repeats N] [--model 25m|110m|all|none] [--clock wall|cpu]
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "core/kernels/kernel_isa.h"
#include "core/kernels/packed_linear.h"
#include "core/kernels/packed_weight.h"
#include "core/platform/blas_dispatch.h"
#include "core/platform/cpu_features.h"
#include "core/util/threads.h"

namespace promptintern {
namespace {

using bench::Timing;
using bench::BenchSize;
using bench::FindBenchSize;
using bench::TimeEach;
using bench::Summarize;

struct LayerShape {
  const char* name;
  int64_t out;
  int64_t in;
};

struct ModelShapes {
  const char* name;
  std::vector<LayerShape> layers;
};

// The projection shapes of one layer of a bench size (bench_support.h): 25M (hidden 512, 8/4 heads
// of 64, intermediate 1376), 110M (llama2.c's stories110M: hidden 768, 12 heads, intermediate 2048).
ModelShapes LayerShapesOf(const char* label, const BenchSize& size) {
  const int64_t hidden = size.hidden_size;
  const int64_t kv = size.num_key_value_heads * (hidden / size.num_attention_heads);
  ModelShapes model{label, {}};
  if (kv == hidden) {
    model.layers.push_back({"q/k/v/o_proj", hidden, hidden});
  } else {
    model.layers.push_back({"q_proj, o_proj", hidden, hidden});
    model.layers.push_back({"k_proj, v_proj", kv, hidden});
  }
  model.layers.push_back({"gate_proj, up_proj", size.intermediate_size, hidden});
  model.layers.push_back({"down_proj", hidden, size.intermediate_size});
  return model;
}

std::vector<ModelShapes> Models(const std::string& which) {
  std::vector<ModelShapes> models;
  if (which == "25m" || which == "all") models.push_back(LayerShapesOf("25M", *FindBenchSize("25m")));
  if (which == "110m" || which == "all") models.push_back(LayerShapesOf("110M", *FindBenchSize("110m")));
  return models;
}

struct Variant {
  std::string name;
  PackOptions options;
  KernelIsa isa;     // the cap while it runs
  bool openblas;     // at::mv / at::linear on the float32 copies instead of PackedLinear
};

std::vector<Variant> Variants() {
  const KernelIsa best = SupportedKernelIsa(HostCpu());
  std::vector<Variant> variants = {{"f32 OpenBLAS (mv / linear)", {WeightFormat::kF32}, best, true},
                                   {"f32 packed", {WeightFormat::kF32}, best, false}};
  if (best >= KernelIsa::kAvx512Bf16) variants.push_back({"bf16 (vdpbf16ps)", {WeightFormat::kBF16}, best, false});
  variants.push_back({"bf16 (widened)", {WeightFormat::kBF16}, std::min(best, KernelIsa::kAvx512), false});
  variants.push_back({"f16", {WeightFormat::kF16}, best, false});
  variants.push_back({"int8, blocks of 32", {WeightFormat::kInt8, 32}, best, false});
  variants.push_back({"int8, per row", {WeightFormat::kInt8, 0}, best, false});
  if (best > KernelIsa::kAvx2) variants.push_back({"int8/32 on AVX2", {WeightFormat::kInt8, 32}, KernelIsa::kAvx2, false});
  variants.push_back({"int8/32 scalar", {WeightFormat::kInt8, 32}, KernelIsa::kScalar, false});
  return variants;
}

// Seconds per call of `variant` on [out, in] for each of `rows`, over copies of the weight
// totalling at least `footprint` bytes. The copies are parsed from one serialized packed weight:
// distinct memory, identical values, no re-quantization per copy.
std::vector<Timing> TimePerCall(const Variant& variant, const LayerShape& shape, const std::vector<int64_t>& rows,
                                int64_t footprint, int repeats, int64_t* bytes_per_call) {
  auto packed = PackWeight(at::randn({shape.out, shape.in}) * 0.05, variant.options);
  auto serialized = SerializePackedWeight(*packed);
  *bytes_per_call = packed->bytes();
  const int64_t copies = std::max<int64_t>(2, (footprint + packed->bytes() - 1) / packed->bytes());
  std::vector<PackedWeight> weights;
  for (int64_t i = 0; i < copies; ++i) weights.push_back(*ParsePackedWeight(*serialized));
  std::vector<Timing> timings;
  ScopedKernelIsaLimit limit(variant.isa);
  for (int64_t n : rows) {
    const at::Tensor x = at::randn({n, shape.in});
    at::Tensor y = at::empty({n, shape.out});
    const at::Tensor x_row = x[0];
    at::Tensor y_row = y[0];
    const auto call = [&](int64_t i) {
      const PackedWeight& weight = weights[i % copies];
      if (!variant.openblas) {
        PackedLinearOut(x, weight, y);
      } else if (n == 1) {
        at::mv_out(y_row, weight.Unpack(), x_row);
      } else {
        at::mm_out(y, x, weight.Unpack().t());
      }
    };
    TimeEach(copies, call);  // warm-up
    timings.push_back(Summarize(TimeEach(copies * repeats, call)));
  }
  return timings;
}

int Run(int repeats, const std::string& which) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines appear as they are measured
  const int64_t cache = bench::LastLevelCacheBytes();
  std::printf("CPU: %s\n%s\n", HostCpu().Describe().c_str(), CurrentBlas().LogLine().c_str());
  std::printf("threads: %d, weight kernels: %s, last-level cache: %ld MiB, clock: %s\n", at::get_num_threads(),
              std::string(KernelIsaName(ActiveKernelIsa())).c_str(), static_cast<long>(cache >> 20),
              bench::UsingCpuClock() ? "process CPU time / threads" : "wall");
  const Timing bandwidth = bench::MeasureBandwidth(8 * cache, repeats);
  std::printf("bandwidth (streaming read of %ld MiB): %.1f GB/s (median %.1f)\n", static_cast<long>(8 * cache >> 20),
              bandwidth.p10, bandwidth.median);
  const Timing peak = bench::MeasureMatmulPeak(repeats);
  std::printf("matmul peak (1024^3 at::mm): %.1f GFLOP/s (median %.1f)\n\n", peak.p10, peak.median);
  const auto variants = Variants();
  for (const ModelShapes& model : Models(which)) {
    for (const LayerShape& shape : model.layers) {
      std::printf("%s %s [%ld x %ld]\n", model.name, shape.name, static_cast<long>(shape.out), static_cast<long>(shape.in));
      std::printf("  %-28s %5s %10s %10s %8s %9s\n", "kernel", "rows", "us/call", "(median)", "GB/s", "of bound");
      for (const Variant& variant : variants) {
        const std::vector<int64_t> rows = {1, 8};
        int64_t bytes = 0;
        const std::vector<Timing> timings = TimePerCall(variant, shape, rows, 8 * cache, repeats, &bytes);
        for (size_t i = 0; i < rows.size(); ++i) {
          const double gbps = bytes / timings[i].p10 / 1e9;
          std::printf("  %-28s %5ld %10.1f %10.1f %8.1f %8.0f%%\n", variant.name.c_str(), static_cast<long>(rows[i]),
                      timings[i].p10 * 1e6, timings[i].median * 1e6, gbps, 100.0 * gbps / bandwidth.p10);
        }
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace promptintern

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "kernel_bench");
  CLI::App app{"PromptIntern weight-kernel benchmark"};
  int threads = 0;
  int repeats = 5;
  std::string model = "all";
  app.add_option("--threads", threads, "Compute threads (0 = all cores)");
  app.add_option("--repeats", repeats, "Rounds per measurement (10th percentile and median reported)")->check(CLI::PositiveNumber);
  std::string clock = "wall";
  app.add_option("--clock", clock, "wall, or cpu: process CPU time / threads (on a busy shared machine)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  app.add_option("--model", model, "Layer shapes: 25m, 110m, all, or none (the bounds only)")
      ->check(CLI::IsMember({"25m", "110m", "all", "none"}));
  CLI11_PARSE(app, argc, argv);
  promptintern::SetComputeThreads(threads);
  promptintern::bench::UseCpuClock(clock == "cpu");
  return promptintern::Run(repeats, model);
}
