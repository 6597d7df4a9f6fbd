// What the benchmarks measure the machine's bounds with (bench/kernel_bench.cc and
// bench/model_bench.cc print every figure next to them):
//   - MeasureBandwidth: a streaming read over a buffer (LastLevelCacheBytes() x 8, so it comes
//     from memory), in 64 pieces each split over the compute threads and timed on its own;
//   - MeasureMatmulPeak: a 1024^3 at::mm (OpenBLAS sgemm), GFLOP/s;
// and the model sizes they share (BenchSizes).
// Figures are the 10th percentile and the median of the timed calls: on a machine shared with
// other work, the fast calls are the ones that ran with all their threads scheduled.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/config.h"

namespace promptintern::bench {

// A Llama shape the benchmarks name by size: "demo" (the demo job's 0.9M-parameter model), "25m",
// "110m" (llama2.c's stories110M). Only the shape: a benchmark keeps its own context length and
// embedding tying.
struct BenchSize {
  std::string_view name;
  int64_t hidden_size;
  int64_t num_hidden_layers;
  int64_t num_attention_heads;
  int64_t num_key_value_heads;
  int64_t intermediate_size;
  int64_t vocab_size;
};
const std::vector<BenchSize>& BenchSizes();
// The size called `name`, or nullptr.
const BenchSize* FindBenchSize(std::string_view name);
// `base` with the shape of `size`.
ModelConfig WithBenchSize(ModelConfig base, const BenchSize& size);

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1.
int64_t ProcStatusKb(const std::string& field);
// This process's proportional set size in kB (/proc/self/smaps_rollup): its private pages plus its
// share of the pages it maps together with other processes (shared libraries), so the figures of
// processes running side by side add up to the memory they use together. -1 when unreadable.
int64_t ProportionalSetKb();

// A copy of the running benchmark (/proc/self/exe) started with `args`, its stdin and stdout on
// pipes: for benchmarks that measure something in fresh processes, or compare processes against
// threads. The destructor closes both pipes and waits for the child.
class ChildProcess {
 public:
  // nullptr when the child cannot be started.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of the child's stdout, without its newline; false at end of output.
  bool ReadLine(std::string* line);
  // Writes `line` and a newline to the child's stdin; false when the child is gone.
  bool WriteLine(const std::string& line);
  // Closes the pipes and waits; true when the child exited with status 0.
  bool Wait();

 private:
  ChildProcess() = default;
  int pid_ = -1;
  std::FILE* from_child_ = nullptr;
  int to_child_ = -1;
  bool exited_ok_ = false;
};

// The largest cache's size from sysfs ("32768K"), or 32 MiB when it cannot be read.
int64_t LastLevelCacheBytes();

// --clock cpu: time by the process's CPU time over the thread count instead of the wall clock,
// which on a machine with more runnable threads than cores mostly measures the waits.
void UseCpuClock(bool cpu);
bool UsingCpuClock();
double Now();  // seconds

// Seconds of each of `count` calls of fn(i).
template <typename Fn>
std::vector<double> TimeEach(int64_t count, Fn&& fn) {
  std::vector<double> seconds(count);
  for (int64_t i = 0; i < count; ++i) {
    const double start = Now();
    fn(i);
    seconds[i] = Now() - start;
  }
  return seconds;
}

struct Timing {
  double p10 = 0;     // 10th percentile
  double median = 0;
};

Timing Summarize(std::vector<double> values);

// GB/s of a streaming read of `bytes` (p10 is the fast figure: GB/s of the 10th-percentile time).
Timing MeasureBandwidth(int64_t bytes, int repeats);
// GFLOP/s of a 1024^3 at::mm.
Timing MeasureMatmulPeak(int repeats);

}  // namespace promptintern::bench
