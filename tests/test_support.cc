#include "tests/status_matchers.h"
#include "tests/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/util/file.h"
#include "core/util/sha256.h"

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

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/checkpoint/checkpoint.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"

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

std::string SaveRandomAdapter(DecoderModel& model, uint64_t seed, const std::vector<std::string>& targets) {
  LoraConfig config;
  config.rank = 4;
  config.alpha = 8;
  config.target_modules = targets;
  if (!AttachLora(model, config, seed).ok()) return "";
  {
    at::NoGradGuard no_grad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (auto& [path, projection] : model.NamedProjections()) {
      if (projection->has_lora()) projection->lora_b.normal_(0.0, 0.3, generator);
    }
  }
  const std::string directory = MakeTempDir("adapter_" + std::to_string(seed));
  if (!SaveLoraAdapter(model, config, "test", directory).ok()) return "";
  return directory;
}

std::string SharedTokenizerDir(const std::string& name) {
  const std::string dir = SharedDir() + "/tokenizers/" + name;
  return PathExists(dir + "/tokenizer.json") ? dir : "";
}

std::string TinyQwen3ConfigJson(int64_t vocab_size) {
  return nlohmann::json{{"architectures", {"Qwen3ForCausalLM"}},
                        {"model_type", "qwen3"},
                        {"hidden_size", 64},
                        {"intermediate_size", 128},
                        {"num_hidden_layers", 2},
                        {"num_attention_heads", 4},
                        {"num_key_value_heads", 2},
                        {"head_dim", 32},
                        {"vocab_size", vocab_size},
                        {"max_position_embeddings", 512},
                        {"rms_norm_eps", 1e-6},
                        {"rope_theta", 1000000.0},
                        {"rope_scaling", nullptr},
                        {"tie_word_embeddings", true},
                        {"attention_bias", false},
                        {"attention_dropout", 0.0},
                        {"hidden_act", "silu"},
                        {"use_sliding_window", false},
                        {"sliding_window", nullptr},
                        {"max_window_layers", 2},
                        {"bos_token_id", 151643},
                        {"eos_token_id", 151645},
                        {"initializer_range", 0.3},
                        {"torch_dtype", "float32"},
                        {"transformers_version", "4.51.0"}}
      .dump(2);
}

std::string TinyGemma3ConfigJson(int64_t vocab_size) {
  return nlohmann::json{{"architectures", {"Gemma3ForCausalLM"}},
                        {"model_type", "gemma3_text"},
                        {"hidden_size", 32},
                        {"intermediate_size", 64},
                        {"num_hidden_layers", 2},
                        {"num_attention_heads", 4},
                        {"num_key_value_heads", 1},
                        {"head_dim", 16},
                        {"vocab_size", vocab_size},
                        {"max_position_embeddings", 512},
                        {"rms_norm_eps", 1e-6},
                        {"rope_theta", 1000000.0},
                        {"rope_local_base_freq", 10000.0},
                        {"rope_scaling", nullptr},
                        {"query_pre_attn_scalar", 16},
                        {"sliding_window", 16},
                        {"layer_types", {"sliding_attention", "full_attention"}},
                        {"attn_logit_softcapping", nullptr},
                        {"final_logit_softcapping", nullptr},
                        {"hidden_activation", "gelu_pytorch_tanh"},
                        {"attention_bias", false},
                        {"bos_token_id", 2},
                        {"eos_token_id", {1, 106}},
                        {"pad_token_id", 0},
                        {"initializer_range", 0.3},
                        {"torch_dtype", "bfloat16"},
                        {"transformers_version", "4.55.0"}}
      .dump(2);
}

bool WriteFamilyCheckpoint(const std::string& directory, const std::string& tokenizer_dir,
                           const std::function<std::string(const Tokenizer&)>& config_json, DType dtype,
                           uint64_t seed, uint64_t max_shard_bytes) {
  auto tokenizer = Tokenizer::LoadFromDirectory(tokenizer_dir);
  EXPECT_THAT(tokenizer, IsOk());
  if (!tokenizer.ok()) return false;
  auto config = ParseModelConfig(config_json(**tokenizer), "test config");
  EXPECT_THAT(config, IsOk());
  if (!config.ok()) return false;
  auto model = DecoderModel::Create(*config);
  EXPECT_THAT(model, IsOk());
  if (!model.ok() || !(*model)->InitializeRandom(seed).ok()) return false;
  SaveOptions options;
  options.dtype = dtype;
  options.max_shard_bytes = max_shard_bytes;
  const absl::Status saved = SaveModel(**model, tokenizer->get(), directory, options);
  EXPECT_THAT(saved, IsOk());
  return saved.ok();
}

}  // namespace promptintern::testing

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <grpcpp/generic/generic_stub.h>
#include <nlohmann/json.hpp>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

namespace promptintern::testing {

bool ServiceProcess::Start(const std::string& binary, const std::vector<std::string>& arguments,
                           const std::string& log_path) {
  log_path_ = log_path;
  const pid_t test_pid = getpid();
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    // A test that crashes takes its services with it: left running, they would hold the output
    // pipe open and ctest would wait for them until its timeout.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != test_pid) _exit(125);
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

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

std::string HttpExchange(int port, const std::string& request, std::chrono::milliseconds limit) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  const auto deadline = std::chrono::steady_clock::now() + limit;
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string HttpGet(int port, const std::string& path) {
  const std::string response =
      HttpExchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::string TreeDigest(const std::string& dir) {
  std::vector<std::filesystem::path> entries;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  Sha256Hasher hasher;
  for (const std::filesystem::path& path : entries) {
    const auto status = std::filesystem::symlink_status(path);
    std::string record = std::filesystem::relative(path, dir).string();
    if (std::filesystem::is_symlink(status)) {
      record += " -> " + std::filesystem::read_symlink(path).string();
    } else if (std::filesystem::is_regular_file(status)) {
      auto bytes = ReadFile(path.string());
      record += " file " + (bytes.ok() ? *Sha256Hex(*bytes) : std::string(bytes.status().message()));
    } else {
      record += " kind " + std::to_string(static_cast<int>(status.type()));
    }
    (void)hasher.Update(record + "\n");
  }
  return *hasher.FinishHex();
}

int ServiceProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string ScopedTmpfs::Mount(const std::string& path, const std::string& size) {
  std::filesystem::create_directories(path);
  if (::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) {
    return "cannot mount a " + size + " tmpfs at " + path + " (" + std::strerror(errno) + "); it needs root";
  }
  path_ = path;
  return "";
}

ScopedTmpfs::~ScopedTmpfs() {
  if (!path_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
}

std::optional<int> ServiceProcess::StopWithin(int signal, std::chrono::milliseconds limit) {
  if (pid_ <= 0) return std::nullopt;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Stop(SIGKILL);
  return std::nullopt;
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

#include <gtest/gtest.h>

#include "client/lib/inference_client.h"
#include "client/lib/trainer_client.h"

namespace promptintern::testing {

int64_t Publish(TrainerClient& trainer, const std::string& name, int steps) {
  auto job = trainer.SubmitJob(TinyJobYaml(name, steps));
  EXPECT_THAT(job, IsOk());
  if (!job.ok()) return 0;
  EXPECT_THAT(trainer.WatchJob(job->job_id(), [](const v1::JobEvent&) { return true; }), IsOk());
  auto finished = trainer.GetJob(job->job_id());
  EXPECT_EQ(finished->state(), v1::JOB_STATE_SUCCEEDED) << finished->error();
  return finished->model_version();
}

v1::GenerateRequest Query(const std::string& text, int max_tokens) {
  v1::GenerateRequest request;
  request.set_query(text);
  request.set_max_tokens(max_tokens);
  return request;
}

double SumOf(const std::string& exposition, const std::string& metric) {
  double sum = 0;
  const std::regex line("(^|\n)" + metric + "(\\{[^}]*\\})? ([0-9.eE+-]+)");
  for (auto it = std::sregex_iterator(exposition.begin(), exposition.end(), line); it != std::sregex_iterator(); ++it) {
    sum += std::stod((*it)[3]);
  }
  return sum;
}

std::vector<std::string> InferenceArguments(const std::string& dir, const std::string& name) {
  return {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--registry-dir", dir + "/registry",
          "--model", name + "@production", "--poll-seconds", "0.2", "--threads", "1", "--max-batch-size", "4"};
}

void StartServingStack(const std::string& dir, const std::string& name, ServiceProcess& trainer_process,
                       ServiceProcess& inference_process, const std::vector<std::string>& inference_arguments) {
  ASSERT_TRUE(trainer_process.Start(BinaryDir() + "/promptintern-trainer",
                                    {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", dir + "/data",
                                     "--registry-dir", dir + "/registry", "--threads", "1"},
                                    dir + "/trainer.log"));
  TrainerClient trainer(trainer_process.address());
  ASSERT_EQ(Publish(trainer, name, 6), 1);
  ASSERT_THAT(trainer.SetAlias(name, "production", 1, "test"), IsOk());
  std::vector<std::string> arguments = InferenceArguments(dir, name);
  arguments.insert(arguments.end(), inference_arguments.begin(), inference_arguments.end());
  ASSERT_TRUE(inference_process.Start(BinaryDir() + "/promptintern-inference", arguments, dir + "/inference.log"));
  InferenceClient client(inference_process.address());
  for (int i = 0; i < 300 && !client.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace promptintern::testing
