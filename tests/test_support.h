// Paths and small fixtures shared by the tests.
#pragma once

#include <cstdint>
#include <string>

namespace promptintern::testing {

// ../shared beside the checkout (override with PROMPTINTERN_SHARED).
std::string SharedDir();
// The stories260K fixture directory, or "" when ../shared is absent.
std::string Stories260KDir();
// build/bin of this build.
std::string BinaryDir();
// A fresh, empty directory under the test temp dir.
std::string MakeTempDir(const std::string& name);

}  // namespace promptintern::testing

#include <functional>
#include <memory>
#include <vector>

#include "core/model/config.h"
#include "core/safetensors/safetensors.h"

namespace promptintern {
class DecoderModel;
class Tokenizer;
}

namespace promptintern::testing {

// A few-thousand-parameter config: 2 layers, GQA (4 heads, 2 KV heads), vocab 64.
ModelConfig TinyConfig();
// TinyConfig (or `config`) with random weights from `seed`.
std::unique_ptr<DecoderModel> MakeRandomModel(uint64_t seed, const ModelConfig& config = TinyConfig());
// Attaches rank-4 LoRA to `targets` of `model` with random, as-if-trained updates (B != 0), saves
// it in the PEFT layout under a new temporary directory and returns that directory ("" on failure).
std::string SaveRandomAdapter(DecoderModel& model, uint64_t seed, const std::vector<std::string>& targets);

// ../shared/tokenizers/<name> (qwen3, gemma3, ...), or "" when ../shared lacks it.
std::string SharedTokenizerDir(const std::string& name);

// Tiny config.json texts of real families, shaped like their released models (Qwen3-0.6B,
// gemma-3-270m) but with hidden sizes of 32-64 and two layers; vocab_size is left to the caller.
std::string TinyQwen3ConfigJson(int64_t vocab_size);
std::string TinyGemma3ConfigJson(int64_t vocab_size);

// A random checkpoint of that family with a real tokenizer: the config.json `config_json` makes
// for the tokenizer of `tokenizer_dir`, weights from `seed` saved in `dtype` (sharded when
// max_shard_bytes > 0), and the tokenizer's files beside them. False (and a gtest failure) on error.
bool WriteFamilyCheckpoint(const std::string& directory, const std::string& tokenizer_dir,
                           const std::function<std::string(const Tokenizer&)>& config_json, DType dtype,
                           uint64_t seed, uint64_t max_shard_bytes = 0);

}  // namespace promptintern::testing

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <vector>

namespace grpc {
class Channel;
}

namespace promptintern::testing {

// A service binary run as a child process, as in production: real sockets on loopback.
class ServiceProcess {
 public:
  // Starts `binary` with `arguments` (which should include a ":0" listen address); waits until it
  // logs "serving on port N" and returns with port() set. Returns false (and kills it) on failure.
  bool Start(const std::string& binary, const std::vector<std::string>& arguments, const std::string& log_path);
  ~ServiceProcess();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  // The first number logged after `prefix` (e.g. "metrics on port "), or 0.
  int LoggedNumber(const std::string& prefix) const;
  // Sends `signal` and reaps the process; returns its wait status.
  int Stop(int signal);
  // Sends `signal` and waits up to `limit` for the process to end: its wait status, or nullopt
  // when it was still running (it is then killed with SIGKILL).
  std::optional<int> StopWithin(int signal, std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// A loopback port nobody listens on right now (the kernel's pick for an ephemeral bind), for
// programs that cannot be told to listen on ":0" (Prometheus, a c10d store).
int FreePort();

// grpc.health.v1.Health/Check of `service` ("" = the whole server) over `channel`, without a
// token: true when SERVING. `service` must be shorter than 128 bytes.
bool HealthServing(const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "");
bool HealthServing(const std::string& plaintext_address, const std::string& service = "");

// The body of GET http://127.0.0.1:port/path, or "" on any failure (no answer within 30 s included).
std::string HttpGet(int port, const std::string& path);
// Sends `request` as is to 127.0.0.1:port and returns everything the server sends until it closes
// the connection, or "" when it cannot connect; stops waiting after `limit`.
std::string HttpExchange(int port, const std::string& request,
                         std::chrono::milliseconds limit = std::chrono::seconds(30));
// A TCP connection to 127.0.0.1:port (blocking socket), or -1.
int ConnectLoopback(int port);

// SHA-256 over every entry under `dir` (relative path, kind, symlink target, file bytes), in
// path order: equal digests mean nothing was added, removed, renamed or changed.
std::string TreeDigest(const std::string& dir);

// Polls <output_dir>/state/progress.json until a run has checkpointed at least `step` global steps
// (for at most two minutes), so that a test can kill the run after a checkpoint.
void WaitForCheckpointStep(const std::string& output_dir, int64_t step);

// A tmpfs of `size` (mount(8) syntax, "2m") mounted at `path` for a disk-full test, unmounted on
// destruction. Mounting needs root: Mount returns "" or why it could not mount (for GTEST_SKIP).
class ScopedTmpfs {
 public:
  std::string Mount(const std::string& path, const std::string& size);
  ~ScopedTmpfs();

 private:
  std::string path_;
};

// tests/data/tiny_job.yaml (a 2-layer model on the synthetic task) with its name and step count set.
std::string TinyJobYaml(const std::string& name, int steps);

}  // namespace promptintern::testing
