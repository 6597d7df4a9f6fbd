#include "tests/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/util/file.h"

namespace promptintern::testing {

std::string SharedDir() {
  if (const char* shared = std::getenv("PROMPTINTERN_SHARED"); shared != nullptr && *shared != '\0') return shared;
  return std::string(PROMPTINTERN_SOURCE_DIR) + "/../shared";
}

std::string Stories260KDir() {
  const std::string dir = SharedDir() + "/models/stories260K";
  return PathExists(dir + "/model.safetensors") ? dir : "";
}

std::string BinaryDir() { return std::string(PROMPTINTERN_BINARY_DIR) + "/bin"; }

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::filesystem::path root = base != nullptr ? base : std::filesystem::temp_directory_path();
  const std::filesystem::path dir = root / ("promptintern_test_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace promptintern::testing

#include "core/model/llama.h"

namespace promptintern::testing {

ModelConfig TinyConfig() {
  ModelConfig config;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.vocab_size = 64;
  config.max_position_embeddings = 128;
  // Wide weights make the next-token distribution peaked, so greedy choices are not near-ties.
  config.initializer_range = 0.3;
  return config;
}

std::unique_ptr<LlamaModel> MakeRandomModel(uint64_t seed, const ModelConfig& config) {
  auto model = LlamaModel::Create(config);
  if (!model.ok()) return nullptr;
  if (!(*model)->InitializeRandom(seed).ok()) return nullptr;
  return std::move(model).value();
}

}  // namespace promptintern::testing

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <regex>
#include <thread>

namespace promptintern::testing {

bool ServiceProcess::Start(const std::string& binary, const std::vector<std::string>& arguments,
                           const std::string& log_path) {
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    if (freopen(log_path.c_str(), "w", stderr) == nullptr) _exit(126);
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  const std::regex serving("serving on port ([0-9]+)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto log = ReadFile(log_path);
    std::smatch match;
    if (log.ok() && std::regex_search(*log, match, serving)) {
      port_ = std::stoi(match[1]);
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop(SIGKILL);
  return false;
}

int ServiceProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

ServiceProcess::~ServiceProcess() { Stop(SIGKILL); }

std::string TinyJobYaml(const std::string& name, int steps) {
  std::string yaml = *ReadFile(std::string(PROMPTINTERN_SOURCE_DIR) + "/tests/data/tiny_job.yaml");
  yaml = std::regex_replace(yaml, std::regex("\nname: [^\n]*"), "\nname: " + name);
  return std::regex_replace(yaml, std::regex("training: \\{steps: [0-9]+"),
                            "training: {steps: " + std::to_string(steps));
}

}  // namespace promptintern::testing
