// promptintern-trainer: the gRPC trainer service (TrainerService + RegistryService).
//
//   promptintern-trainer [--config trainer.yaml] [--listen ADDR] [--metrics-listen ADDR]
//                        [--data-dir DIR] [--registry-dir DIR] [--threads N]
//                        [--max-concurrent-jobs N] [--max-queued-jobs N]
//                        [--allowed-paths DIR...] [--job-stop-timeout-seconds S]
//
// A submitted job comes from a remote client: the files it names must lie under allowed_paths
// (default: the data directory), checked after following symlinks and "..".
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "core/jobs/job_manager.h"
#include "core/platform/blas_dispatch.h"
#include "core/jobs/publish_run.h"
#include "core/registry/registry.h"
#include "server/common/metrics_http.h"
#include "server/common/server_runner.h"
#include "server/common/listener_settings.h"
#include "server/common/service_config.h"
#include "server/trainer/trainer_metrics.h"
#include "server/trainer/trainer_service.h"

namespace {

struct TrainerConfig {
  promptintern::ListenerSettings listener{"127.0.0.1:50051", "127.0.0.1:9091", 4 << 20};
  std::string data_dir = "trainer-data";
  std::string registry_dir = "registry";
  int threads = 0;
  int max_concurrent_jobs = 1;
  int max_queued_jobs = 64;
  std::vector<std::string> allowed_paths;  // empty: the data directory
  // SIGTERM waits this long for running jobs to checkpoint, then exits anyway (they resume from
  // their last checkpoint, as after a crash).
  int job_stop_timeout_seconds = 90;
};

}  // namespace

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "promptintern-trainer");
  promptintern::BlockTerminationSignals();
  CLI::App app{"PromptIntern trainer service"};
  TrainerConfig config;
  promptintern::ServiceConfig settings(app);
  config.listener.Bind(settings);
  settings.Bind("data_dir", "--data-dir", config.data_dir, "Job records, events and run state");
  settings.Bind("registry_dir", "--registry-dir", config.registry_dir, "Model registry root directory");
  settings.Bind("threads", "--threads", config.threads, "Compute threads for jobs that leave it at 0 (0 = all cores)");
  settings.Bind("max_concurrent_jobs", "--max-concurrent-jobs", config.max_concurrent_jobs, "Jobs run at once");
  settings.Bind("max_queued_jobs", "--max-queued-jobs", config.max_queued_jobs, "Jobs waiting before SubmitJob is refused");
  settings.Bind("allowed_paths", "--allowed-paths", config.allowed_paths,
                "Directories whose files submitted jobs may name (default: the data directory)");
  settings.Bind("job_stop_timeout_seconds", "--job-stop-timeout-seconds", config.job_stop_timeout_seconds,
                "On SIGTERM, how long running jobs get to checkpoint before the trainer exits anyway");
  CLI11_PARSE(app, argc, argv);
  if (absl::Status status = settings.Apply(); !status.ok()) {
    std::cerr << "promptintern-trainer: " << status.message() << "\n";
    return 2;
  }
  auto security = promptintern::LoadServerSecurity(config.listener.security);
  if (!security.ok()) {
    std::cerr << "promptintern-trainer: " << security.status().message() << "\n";
    return 2;
  }

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
  options.spec_options.allowed_roots = config.allowed_paths;
  if (options.spec_options.allowed_roots.empty()) {
    options.spec_options.allowed_roots.push_back(std::filesystem::absolute(config.data_dir).string());
  }
  options.open_reference = promptintern::RegistryReferenceOpener(registry->get());
  options.observer = [&metrics_sink](const promptintern::JobRecord& job, const promptintern::JobEvent& event) {
    metrics_sink.Observe(job, event);
  };
  auto jobs = promptintern::JobManager::Start(options, promptintern::RegistryPublisher(registry->get()));
  if (!jobs.ok()) {
    std::cerr << "promptintern-trainer: " << jobs.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<promptintern::MetricsHttpServer> metrics_server;
  if (!config.listener.metrics_listen.empty()) {
    auto started = promptintern::MetricsHttpServer::Start(config.listener.metrics_listen, metrics_sink.registry());
    if (!started.ok()) {
      std::cerr << "promptintern-trainer: " << started.status().message() << "\n";
      return 1;
    }
    metrics_server = std::move(started).value();
  }
  promptintern::TrainerServiceImpl trainer_service(jobs->get(), security->authenticator.get());
  promptintern::RegistryServiceImpl registry_service(registry->get(), security->authenticator.get());
  auto server = promptintern::StartGrpcServer(
      {config.listener.listen, config.listener.max_message_bytes, security->credentials,
       config.listener.health_listen},
      {&trainer_service, &registry_service});
  if (!server.ok()) {
    std::cerr << "promptintern-trainer: " << server.status().message() << "\n";
    return 1;
  }
  if (metrics_server != nullptr) {
    std::fprintf(stderr, "promptintern-trainer: metrics on port %d\n", metrics_server->port());
  }
  if ((*server)->health_port() != 0) {
    std::fprintf(stderr, "promptintern-trainer: health on port %d\n", (*server)->health_port());
  }
  std::fprintf(stderr, "promptintern-trainer: serving on port %d%s%s (data %s, registry %s)\n", (*server)->port(),
               config.listener.security.tls() ? " with TLS" : "", security->authenticator->enabled() ? ", bearer tokens required" : "",
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
  (*server)->Shutdown(std::chrono::seconds(5));
  stopping = true;
  job_counts.join();
  if (!(*jobs)->Shutdown(absl::Seconds(config.job_stop_timeout_seconds))) {
    std::fprintf(stderr,
                 "promptintern-trainer: a running job did not stop within %d s; exiting without it (it resumes "
                 "from its last checkpoint at the next start)\n",
                 config.job_stop_timeout_seconds);
    std::fflush(stderr);
    std::_Exit(1);
  }
  return 0;
}
