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

#include <memory>

#include "core/model/config.h"

namespace promptintern {
class DecoderModel;
}

namespace promptintern::testing {

// A few-thousand-parameter config: 2 layers, GQA (4 heads, 2 KV heads), vocab 64.
ModelConfig TinyConfig();
// TinyConfig (or `config`) with random weights from `seed`.
std::unique_ptr<DecoderModel> MakeRandomModel(uint64_t seed, const ModelConfig& config = TinyConfig());

}  // namespace promptintern::testing

#include <sys/types.h>

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

// The body of GET http://127.0.0.1:port/path, or "" on any failure.
std::string HttpGet(int port, const std::string& path);

// Polls <output_dir>/state/progress.json until a run has checkpointed at least `step` global steps
// (for at most two minutes), so that a test can kill the run after a checkpoint.
void WaitForCheckpointStep(const std::string& output_dir, int64_t step);

// tests/data/tiny_job.yaml (a 2-layer model on the synthetic task) with its name and step count set.
std::string TinyJobYaml(const std::string& name, int steps);

}  // namespace promptintern::testing
