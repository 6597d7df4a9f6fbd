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

#include "core/model/decoder.h"

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

std::unique_ptr<DecoderModel> MakeRandomModel(uint64_t seed, const ModelConfig& config) {
  auto model = DecoderModel::Create(config);
  if (!model.ok()) return nullptr;
  if (!(*model)->InitializeRandom(seed).ok()) return nullptr;
  return std::move(model).value();
}

}  // namespace promptintern::testing

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <grpcpp/generic/generic_stub.h>
#include <nlohmann/json.hpp>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

namespace promptintern::testing {

bool ServiceProcess::Start(const std::string& binary, const std::vector<std::string>& arguments,
                           const std::string& log_path) {
  log_path_ = log_path;
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

int ServiceProcess::LoggedNumber(const std::string& prefix) const {
  auto log = ReadFile(log_path_);
  if (!log.ok()) return 0;
  const size_t at = log->find(prefix);
  return at == std::string::npos ? 0 : std::atoi(log->c_str() + at + prefix.size());
}

// Without generated stubs: the request is field 1 (service, length-delimited), absent when empty;
// SERVING (1) encodes to field 1 varint 1.
bool HealthServing(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::string encoded;
  if (!service.empty()) encoded = std::string("\x0a") + static_cast<char>(service.size()) + service;
  grpc::Slice body(encoded);
  request = grpc::ByteBuffer(&body, 1);
  std::mutex mu;
  std::condition_variable done;
  bool finished = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = s;
                   finished = true;
                   done.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  done.wait(lock, [&] { return finished; });
  if (!status.ok()) return false;
  std::vector<grpc::Slice> slices;
  response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes == std::string("\x08\x01", 2);
}

bool HealthServing(const std::string& plaintext_address, const std::string& service) {
  return HealthServing(grpc::CreateChannel(plaintext_address, grpc::InsecureChannelCredentials()), service);
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (fd >= 0) close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
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

void WaitForCheckpointStep(const std::string& output_dir, int64_t step) {
  const std::string progress = output_dir + "/state/progress.json";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = ReadFile(progress);
    if (text.ok()) {
      const nlohmann::json root = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (root.is_object() && root.value("global_step", int64_t{0}) >= step) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string TinyJobYaml(const std::string& name, int steps) {
  std::string yaml = *ReadFile(std::string(PROMPTINTERN_SOURCE_DIR) + "/tests/data/tiny_job.yaml");
  yaml = std::regex_replace(yaml, std::regex("\nname: [^\n]*"), "\nname: " + name);
  return std::regex_replace(yaml, std::regex("training: \\{steps: [0-9]+"),
                            "training: {steps: " + std::to_string(steps));
}

}  // namespace promptintern::testing
