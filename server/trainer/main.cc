// promptintern-trainer: the gRPC trainer service (TrainerService + RegistryService).
//
//   promptintern-trainer [--config trainer.yaml] [--listen ADDR] [--metrics-listen ADDR]
//                        [--data-dir DIR] [--registry-dir DIR] [--threads N]
//                        [--max-concurrent-jobs N] [--max-queued-jobs N]
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "core/jobs/job_manager.h"
#include "core/registry/registry.h"
#include "server/common/metrics_http.h"
#include "server/common/server_runner.h"
#include "server/trainer/trainer_metrics.h"
#include "server/trainer/trainer_service.h"

namespace {

struct TrainerConfig {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9091";
  std::string data_dir = "trainer-data";
  std::string registry_dir = "registry";
  int threads = 0;
  int max_concurrent_jobs = 1;
  int max_queued_jobs = 64;
  int max_message_bytes = 4 << 20;
};

// Fields of the YAML file; flags given on the command line win.
absl::Status ApplyConfigFile(const std::string& path, TrainerConfig* config) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) return absl::InvalidArgumentError(path + ": not a YAML mapping");
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (key == "listen") config->listen = value.as<std::string>();
      else if (key == "metrics_listen") config->metrics_listen = value.as<std::string>();
      else if (key == "data_dir") config->data_dir = value.as<std::string>();
      else if (key == "registry_dir") config->registry_dir = value.as<std::string>();
      else if (key == "threads") config->threads = value.as<int>();
      else if (key == "max_concurrent_jobs") config->max_concurrent_jobs = value.as<int>();
      else if (key == "max_queued_jobs") config->max_queued_jobs = value.as<int>();
      else if (key == "max_message_bytes") config->max_message_bytes = value.as<int>();
      else return absl::InvalidArgumentError(path + ": unknown field '" + key + "'");
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(path + ": " + e.what());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  promptintern::BlockTerminationSignals();
  CLI::App app{"PromptIntern trainer service"};
  std::string config_path;
  TrainerConfig config;
  app.add_option("--config", config_path, "YAML configuration file");
  // Flags are applied after the configuration file, so a flag given on the command line wins.
  std::vector<std::function<void()>> apply_flags;
  auto flag = [&](const char* name, auto& field, const char* help) {
    using Value = std::decay_t<decltype(field)>;
    app.add_option_function<Value>(
        name, [&apply_flags, &field](const Value& value) { apply_flags.push_back([&field, value] { field = value; }); },
        help);
  };
  flag("--listen", config.listen, "gRPC listen address");
  flag("--metrics-listen", config.metrics_listen, "Prometheus /metrics address ('' = off)");
  flag("--data-dir", config.data_dir, "Job records, events and run state");
  flag("--registry-dir", config.registry_dir, "Model registry root directory");
  flag("--threads", config.threads, "Compute threads for jobs that leave it at 0 (0 = all cores)");
  flag("--max-concurrent-jobs", config.max_concurrent_jobs, "Jobs run at once");
  flag("--max-queued-jobs", config.max_queued_jobs, "Jobs waiting before SubmitJob is refused");
  CLI11_PARSE(app, argc, argv);
  if (!config_path.empty()) {
    if (absl::Status status = ApplyConfigFile(config_path, &config); !status.ok()) {
      std::cerr << "promptintern-trainer: " << status.message() << "\n";
      return 2;
    }
  }
  for (const auto& apply : apply_flags) apply();

  auto registry = promptintern::ModelRegistry::OpenLocal(config.registry_dir);
  if (!registry.ok()) {
    std::cerr << "promptintern-trainer: " << registry.status().message() << "\n";
    return 1;
  }
  promptintern::TrainerMetrics metrics_sink;
  promptintern::JobManagerOptions options;
  options.data_dir = config.data_dir;
  options.max_concurrent_jobs = config.max_concurrent_jobs;
  options.max_queued_jobs = config.max_queued_jobs;
  options.default_threads = config.threads;
  options.observer = [&metrics_sink](const promptintern::JobRecord& job, const promptintern::JobEvent& event) {
    metrics_sink.Observe(job, event);
  };
  auto jobs = promptintern::JobManager::Start(options, promptintern::RegistryPublisher(registry->get()));
  if (!jobs.ok()) {
    std::cerr << "promptintern-trainer: " << jobs.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<promptintern::MetricsHttpServer> metrics_server;
  if (!config.metrics_listen.empty()) {
    auto started = promptintern::MetricsHttpServer::Start(config.metrics_listen, metrics_sink.registry());
    if (!started.ok()) {
      std::cerr << "promptintern-trainer: " << started.status().message() << "\n";
      return 1;
    }
    metrics_server = std::move(started).value();
  }
  promptintern::TrainerServiceImpl trainer_service(jobs->get());
  promptintern::RegistryServiceImpl registry_service(registry->get());
  int port = 0;
  auto server = promptintern::StartGrpcServer({config.listen, config.max_message_bytes},
                                              {&trainer_service, &registry_service}, &port);
  if (!server.ok()) {
    std::cerr << "promptintern-trainer: " << server.status().message() << "\n";
    return 1;
  }
  if (metrics_server != nullptr) {
    std::fprintf(stderr, "promptintern-trainer: metrics on port %d\n", metrics_server->port());
  }
  std::fprintf(stderr, "promptintern-trainer: serving on port %d (data %s, registry %s)\n", port,
               config.data_dir.c_str(), config.registry_dir.c_str());
  std::atomic<bool> stopping{false};
  std::thread job_counts([&] {
    while (!stopping.load()) {
      metrics_sink.SetJobCounts((*jobs)->CountByState());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  promptintern::WaitForTerminationSignal();
  std::fprintf(stderr, "promptintern-trainer: shutting down; checkpointing running jobs\n");
  (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  (*jobs)->Shutdown();
  stopping = true;
  job_counts.join();
  return 0;
}
