// The BLAS check on the machine at hand, through the real binaries: the kernel in use is the best for
// this CPU (computed here from the compiler's own cpuid support, not from core/platform), a user's
// OPENBLAS_CORETYPE is respected by every binary and shows in both services' metrics, and the
// re-execution happens once and ends.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/platform/blas_dispatch.h"
#include "core/util/file.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::HttpGet;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;

// The best OpenBLAS core for this CPU from GCC's cpuid tables (__builtin_cpu_supports checks the
// OS state too), as an independent check of core/platform's decoder and table.
std::string ExpectedCore() {
  __builtin_cpu_init();
  const bool skylake_x = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vl");
  if (skylake_x && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
  if (skylake_x) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
  if (__builtin_cpu_supports("sse4.2")) return "Nehalem";
  if (__builtin_cpu_supports("ssse3")) return "Core2";
  return "Prescott";
}

// What OpenBLAS itself reports in this process, or "" when another BLAS is loaded.
std::string CoreInUse() {
  using NameFunction = char* (*)();
  auto corename = reinterpret_cast<NameFunction>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return corename != nullptr ? corename() : "";
}

// Another valid core of a lower tier, for the user-setting checks.
std::string OtherCore() { return ExpectedCore() == "Haswell" ? "Sandybridge" : "Haswell"; }

// Runs `binary arguments` with the BLAS variables of this process removed and `environment` added;
// returns the lines of its stderr that the check logged (and the exit status through `status`).
std::vector<std::string> BlasLogLines(const std::string& binary, const std::string& arguments,
                                      const std::string& environment, const std::string& log, int* status) {
  const std::string command = "env -u OPENBLAS_CORETYPE -u PROMPTINTERN_BLAS_OVERRIDE -u PROMPTINTERN_BLAS_SIMULATE_CHOICE " +
                              environment + " timeout 60 " + binary + " " + arguments + " > /dev/null 2> " + log;
  *status = std::system(command.c_str());
  std::vector<std::string> lines;
  std::istringstream text(ReadFile(log).value_or(""));
  for (std::string line; std::getline(text, line);) {
    if (line.find("BLAS: ") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

struct Binary {
  std::string path;
  std::string arguments;
};

std::vector<Binary> EveryBinary() {
  const std::string bin = BinaryDir();
  return {{bin + "/promptintern", "--help"},
          {bin + "/promptintern-trainer", "--help"},
          {bin + "/promptintern-inference", "--help"},
          {bin + "/model_bench", "--help"},
          {bin + "/kernel_bench", "--help"},
          {bin + "/tokenizer_bench", "--help"},
          {bin + "/promptintern_tests", "--gtest_filter=NoSuchTest"}};
}

bool IsOpenBlas() { return !CoreInUse().empty(); }

TEST(BlasHostTest, KernelInUseIsTheBestForThisCpu) {
  if (!IsOpenBlas()) GTEST_SKIP() << "the BLAS behind libblas.so.3 is not OpenBLAS";
  const std::string in_use = CoreInUse();
  const BlasState& state = CurrentBlas();
  EXPECT_EQ(state.library, "openblas");
  EXPECT_EQ(state.kernel, in_use);
  EXPECT_EQ(state.best, ExpectedCore());
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  if (state.source == BlasSource::kUser) {
    GTEST_SKIP() << "OPENBLAS_CORETYPE=" << user << " is set for this run; the kernel is " << in_use;
  }
  // OpenBLAS's choice at the expected tier (e.g. SapphireRapids for Cooperlake), or our override.
  EXPECT_EQ(OpenBlasCoreTier(in_use), OpenBlasCoreTier(ExpectedCore())) << "kernel " << in_use << ", expected " << ExpectedCore();
  if (state.source == BlasSource::kOverride) EXPECT_EQ(in_use, ExpectedCore());
  std::printf("OpenBLAS %s runs %s on %s (source %s)\n", state.version.c_str(), in_use.c_str(), state.cpu.c_str(),
              std::string(BlasSourceName(state.source)).c_str());
}

TEST(BlasHostTest, EveryBinaryRespectsTheUsersCoreType) {
  if (!IsOpenBlas()) GTEST_SKIP() << "not OpenBLAS";
  const std::string dir = MakeTempDir("blas_user");
  for (const Binary& binary : EveryBinary()) {
    int status = 0;
    const auto lines = BlasLogLines(binary.path, binary.arguments, "OPENBLAS_CORETYPE=" + OtherCore(), dir + "/log", &status);
    EXPECT_EQ(status, 0) << binary.path;
    ASSERT_EQ(lines.size(), 1u) << binary.path << ": " << ReadFile(dir + "/log").value_or("");
    EXPECT_NE(lines[0].find("kernel " + OtherCore() + " "), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("source user"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("best for this CPU: " + ExpectedCore()), std::string::npos) << lines[0];
  }
}

TEST(BlasHostTest, EveryBinaryReexecutesOnceWhenOpenBlasChoseWeakerKernels) {
  if (!IsOpenBlas()) GTEST_SKIP() << "not OpenBLAS";
  if (OpenBlasCoreTier(ExpectedCore()) == 0) GTEST_SKIP() << "nothing better than Prescott on this CPU";
  const std::string dir = MakeTempDir("blas_reexec");
  for (const Binary& binary : EveryBinary()) {
    int status = 0;
    // OpenBLAS picks right on this CPU; the variable makes the check see Prescott, as on an Emerald Rapids.
    const auto lines =
        BlasLogLines(binary.path, binary.arguments, "PROMPTINTERN_BLAS_SIMULATE_CHOICE=Prescott", dir + "/log", &status);
    EXPECT_EQ(status, 0) << binary.path << " (124: it kept re-executing)";
    ASSERT_EQ(lines.size(), 1u) << binary.path << ": " << ReadFile(dir + "/log").value_or("");
    EXPECT_NE(lines[0].find("kernel " + ExpectedCore() + " "), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("source override"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("OpenBLAS had chosen Prescott"), std::string::npos) << lines[0];
    EXPECT_EQ(lines[0].find("WARNING"), std::string::npos) << lines[0];
  }
}

// The promptintern_blas_info sample of a /metrics page, or "".
std::string BlasInfoSample(int port) {
  std::istringstream text(HttpGet(port, "/metrics"));
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("promptintern_blas_info{", 0) == 0) return line;
  }
  return "";
}

class ScopedVariable {
 public:
  ScopedVariable(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedVariable() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(BlasHostTest, BothServicesExportTheKernelAsAMetric) {
  if (!IsOpenBlas()) GTEST_SKIP() << "not OpenBLAS";
  const std::string dir = MakeTempDir("blas_metrics");
  ServiceProcess trainer;
  ServiceProcess inference;
  {
    ScopedVariable user("OPENBLAS_CORETYPE", OtherCore());
    ScopedVariable no_marker("PROMPTINTERN_BLAS_OVERRIDE", "");
    ASSERT_TRUE(trainer.Start(BinaryDir() + "/promptintern-trainer",
                              {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir", dir + "/data",
                               "--registry-dir", dir + "/registry"},
                              dir + "/trainer.log"));
  }
  ASSERT_TRUE(inference.Start(BinaryDir() + "/promptintern-inference",
                              {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--registry-dir",
                               dir + "/registry", "--model", "absent@production"},
                              dir + "/inference.log"));
  const std::string trainer_sample = BlasInfoSample(trainer.LoggedNumber("metrics on port "));
  EXPECT_NE(trainer_sample.find("kernel=\"" + OtherCore() + "\""), std::string::npos) << trainer_sample;
  EXPECT_NE(trainer_sample.find("source=\"user\""), std::string::npos) << trainer_sample;
  EXPECT_NE(trainer_sample.find("library=\"openblas\""), std::string::npos) << trainer_sample;
  EXPECT_NE(trainer_sample.find("best=\"" + ExpectedCore() + "\""), std::string::npos) << trainer_sample;
  EXPECT_EQ(trainer_sample.substr(trainer_sample.size() - 2), " 1") << trainer_sample;

  // The inference service inherits this process's environment: the kernel this test runs on.
  const std::string inference_sample = BlasInfoSample(inference.LoggedNumber("metrics on port "));
  EXPECT_NE(inference_sample.find("kernel=\"" + CoreInUse() + "\""), std::string::npos) << inference_sample;
  EXPECT_NE(inference_sample.find("cpu=\"" + CurrentBlas().cpu + "\""), std::string::npos) << inference_sample;
  EXPECT_NE(inference_sample.find("source=\"" + std::string(BlasSourceName(CurrentBlas().source)) + "\""),
            std::string::npos)
      << inference_sample;
}

}  // namespace
}  // namespace promptintern
