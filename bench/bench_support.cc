#include "bench/bench_support.h"

#include <torch/torch.h>

#include <fcntl.h>
#include <immintrin.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <string>

#include "core/kernels/kernel_isa.h"
#include "core/kernels/weight_storage.h"
#include "core/platform/cpu_features.h"

namespace promptintern::bench {

int64_t ProcStatusKb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

int64_t ProportionalSetKb() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::atoll(line.c_str() + 4);
  }
  return -1;
}

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& args) {
  // A child that exits early must turn WriteLine into false, not into SIGPIPE for the benchmark.
  std::signal(SIGPIPE, SIG_IGN);
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return nullptr;
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return nullptr;
  }
  // argv before fork: the child may only call async-signal-safe functions until it execs.
  std::vector<char*> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);  // dup2 clears O_CLOEXEC on the copies
    dup2(from_child[1], STDOUT_FILENO);
    execv(self, argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    close(to_child[1]);
    close(from_child[0]);
    return nullptr;
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->to_child_ = to_child[1];
  child->from_child_ = fdopen(from_child[0], "r");
  return child;
}

ChildProcess::~ChildProcess() { Wait(); }

bool ChildProcess::ReadLine(std::string* line) {
  line->clear();
  if (from_child_ == nullptr) return false;
  int c;
  while ((c = std::fgetc(from_child_)) != EOF && c != '\n') line->push_back(static_cast<char>(c));
  return c != EOF || !line->empty();
}

bool ChildProcess::WriteLine(const std::string& line) {
  if (to_child_ < 0) return false;
  const std::string text = line + "\n";
  return write(to_child_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

bool ChildProcess::Wait() {
  if (pid_ < 0) return exited_ok_;
  if (to_child_ >= 0) close(to_child_);
  if (from_child_ != nullptr) std::fclose(from_child_);
  to_child_ = -1;
  from_child_ = nullptr;
  int status = 0;
  exited_ok_ = waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  pid_ = -1;
  return exited_ok_;
}

int64_t LastLevelCacheBytes() {
  int64_t largest = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string text;
    if (!(file >> text) || text.empty()) continue;
    int64_t value = std::atoll(text.c_str());
    if (text.back() == 'K') value <<= 10;
    if (text.back() == 'M') value <<= 20;
    largest = std::max(largest, value);
  }
  return largest > 0 ? largest : int64_t{32} << 20;
}

namespace {

// The streaming read of the bandwidth probe: sums with several independent accumulators so that
// only memory limits it; the widest vectors the CPU has (this file's own code, independent of the
// kernels it measures).
__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n) {
  __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
    b = _mm512_add_ps(b, _mm512_loadu_ps(p + i + 16));
    c = _mm512_add_ps(c, _mm512_loadu_ps(p + i + 32));
    d = _mm512_add_ps(d, _mm512_loadu_ps(p + i + 48));
  }
  float lanes[16];
  _mm512_storeu_ps(lanes, _mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

__attribute__((target("avx2"))) float SumAvx2(const float* p, int64_t n) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
    b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24));
  }
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

float SumPortable(const float* p, int64_t n) {
  float a = 0, b = 0, c = 0, d = 0;
  for (int64_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a + b + c + d;
}

}  // namespace

namespace {
bool g_cpu_clock = false;
}  // namespace

void UseCpuClock(bool cpu) { g_cpu_clock = cpu; }
bool UsingCpuClock() { return g_cpu_clock; }

double Now() {
  if (!g_cpu_clock) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return (static_cast<double>(now.tv_sec) + now.tv_nsec * 1e-9) / at::get_num_threads();
}

Timing Summarize(std::vector<double> seconds) {
  std::sort(seconds.begin(), seconds.end());
  return {seconds[seconds.size() / 10], seconds[seconds.size() / 2]};
}

Timing MeasureBandwidth(int64_t bytes, int repeats) {
  constexpr int64_t kPieces = 64;
  // In the same memory as the packed weights (2 MiB pages where the kernel gives them): a stream
  // through 4 KiB pages pays a TLB miss every page, which the weights do not.
  const at::Tensor buffer = AllocateWeightStorage({bytes / 4}, at::kFloat).fill_(1.0f);
  const float* data = buffer.data_ptr<float>();
  const int64_t piece = buffer.numel() / kPieces;
  const KernelIsa isa = SupportedKernelIsa(HostCpu());
  float (*sum)(const float*, int64_t) = isa >= KernelIsa::kAvx512 ? SumAvx512 : isa >= KernelIsa::kAvx2 ? SumAvx2 : SumPortable;
  std::atomic<float> total{0};
  const auto read = [&](int64_t i) {
    at::parallel_for(i * piece, (i + 1) * piece, piece / 16, [&](int64_t begin, int64_t end) {
      const float part = sum(data + begin, end - begin);
      float seen = total.load();
      while (!total.compare_exchange_weak(seen, seen + part)) {
      }
    });
  };
  TimeEach(kPieces, read);  // the pages are touched by fill_; this warms the threads
  const Timing timing = Summarize(TimeEach(kPieces * repeats, [&](int64_t i) { read(i % kPieces); }));
  const double piece_bytes = static_cast<double>(piece) * 4;
  return {piece_bytes / timing.p10 / 1e9, piece_bytes / timing.median / 1e9};  // GB/s
}

Timing MeasureMatmulPeak(int repeats) {
  const int64_t n = 1024;
  const at::Tensor a = at::randn({n, n});
  const at::Tensor b = at::randn({n, n});
  at::Tensor c = at::mm(a, b);
  const Timing timing = Summarize(TimeEach(4 * repeats, [&](int64_t) { at::mm_out(c, a, b); }));
  const double flops = 2.0 * n * n * n;
  return {flops / timing.p10 / 1e9, flops / timing.median / 1e9};
}

const std::vector<BenchSize>& BenchSizes() {
  static const std::vector<BenchSize> sizes = {
      {"demo", 128, 4, 4, 2, 344, 1024},
      {"25m", 512, 8, 8, 4, 1376, 4096},
      {"110m", 768, 12, 12, 12, 2048, 32000},
  };
  return sizes;
}

const BenchSize* FindBenchSize(std::string_view name) {
  for (const BenchSize& size : BenchSizes()) {
    if (size.name == name) return &size;
  }
  return nullptr;
}

ModelConfig WithBenchSize(ModelConfig base, const BenchSize& size) {
  base.hidden_size = size.hidden_size;
  base.num_hidden_layers = size.num_hidden_layers;
  base.num_attention_heads = size.num_attention_heads;
  base.num_key_value_heads = size.num_key_value_heads;
  base.intermediate_size = size.intermediate_size;
  base.vocab_size = size.vocab_size;
  return base;
}

}  // namespace promptintern::bench
