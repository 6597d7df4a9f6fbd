// promptintern-inference: serves a registry model (name@alias or name@version) to short-prompt
// requests with continuous batching, following the alias and swapping versions without failing
// requests.
//
//   promptintern-inference --registry-dir DIR --model bash@production [--listen ADDR]
//       [--metrics-listen ADDR] [--threads N] [--max-batch-size N] [--max-waiting N]
//       [--poll-seconds S] [--input-price USD] [--output-price USD] [--config FILE]
//       [--tls-cert-file PEM --tls-key-file PEM [--tls-client-ca-file PEM]] [--auth-token-file FILE]
//       [--health-listen ADDR]
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "core/platform/blas_dispatch.h"
#include "core/registry/registry.h"
#include "core/serve/served_model.h"
#include "core/util/threads.h"
#include "server/common/metrics_http.h"
#include "server/common/server_runner.h"
#include "server/common/listener_settings.h"
#include "server/common/service_config.h"
#include "server/inference/inference_metrics.h"
#include "server/inference/inference_service.h"
#include "server/inference/reload_backoff.h"

namespace {

struct InferenceConfig {
  promptintern::ListenerSettings listener{"127.0.0.1:50052", "127.0.0.1:9092", 1 << 20};
  std::string registry_dir = "registry";
  std::string model;
  std::string weights;  // f32, bf16, f16 or int8; empty: the checkpoint's dtype
  int threads = 0;
  int max_batch_size = 8;
  int max_waiting = 64;
  int64_t max_step_tokens = 256;
  int64_t kv_cache_mb = 0;
  int64_t block_size = 16;
  bool prefix_caching = true;
  int64_t stream_buffer_tokens = 1024;
  int max_adapters = 8;
  double stall_seconds = 30.0;
  double poll_seconds = 5.0;
  double input_price = 0.5;
  double output_price = 1.5;
  int default_max_tokens = 64;
  double min_confidence = 0.0;
  double shadow_rate = 0.0;
  int shadow_max_pending = 4;
  std::string reference;  // empty: the served model answers the full prompt itself
};

}  // namespace

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "promptintern-inference");
  promptintern::BlockTerminationSignals();
  CLI::App app{"PromptIntern inference service"};
  InferenceConfig config;
  promptintern::ServiceConfig settings(app);
  config.listener.Bind(settings);
  settings.Bind("registry_dir", "--registry-dir", config.registry_dir, "Model registry root directory");
  settings.Bind("model", "--model", config.model, "Registry reference to serve: name@alias, name@version or name");
  settings.Bind("weights", "--weights", config.weights,
                "Serving weights: f32, bf16, f16 or int8 (weight-only, scale per 32 inputs); default: the "
                "checkpoint's dtype");
  settings.Bind("threads", "--threads", config.threads, "Compute threads (0 = all cores)");
  settings.Bind("max_batch_size", "--max-batch-size", config.max_batch_size, "Requests decoding together");
  settings.Bind("max_waiting", "--max-waiting", config.max_waiting, "Queued requests before RESOURCE_EXHAUSTED");
  settings.Bind("max_step_tokens", "--max-step-tokens", config.max_step_tokens,
                "Tokens computed per engine step: the chunk size of a long prefill");
  settings.Bind("kv_cache_mb", "--kv-cache-mb", config.kv_cache_mb,
                "KV cache pool in MiB (0: max_batch_size sequences of the full context)");
  settings.Bind("block_size", "--block-size", config.block_size, "Tokens per KV cache block");
  settings.Bind("prefix_caching", "--prefix-caching", config.prefix_caching,
                "Reuse the keys/values of prompt prefixes seen before");
  settings.Bind("stream_buffer_tokens", "--stream-buffer-tokens", config.stream_buffer_tokens,
                "Tokens a streaming client may leave unread before its request is ended");
  settings.Bind("max_adapters", "--max-adapters", config.max_adapters,
                "LoRA adapters of the served base kept loaded (least recently used dropped beyond)");
  settings.Bind("stall_seconds", "--stall-seconds", config.stall_seconds,
                "Health turns NOT_SERVING when the engine has work but no step finished for this long");
  settings.Bind("poll_seconds", "--poll-seconds", config.poll_seconds, "How often the alias is checked");
  settings.Bind("input_price_per_million", "--input-price", config.input_price, "USD per million input tokens");
  settings.Bind("output_price_per_million", "--output-price", config.output_price, "USD per million output tokens");
  settings.Bind("default_max_tokens", "--default-max-tokens", config.default_max_tokens,
                "max_tokens when a request leaves it 0");
  settings.Bind("min_confidence", "--min-confidence", config.min_confidence,
                "Answer again with the full prompt when an answer's confidence (geometric-mean token "
                "probability) is below this, for requests that set no min_confidence (0: off)");
  settings.Bind("shadow_rate", "--shadow-rate", config.shadow_rate,
                "Fraction of query-only requests also answered with the full prompt off their critical path "
                "and compared (promptintern_shadow_*); a request's own `shadow` field wins");
  settings.Bind("shadow_max_pending", "--shadow-max-pending", config.shadow_max_pending,
                "Shadow answers queued or running at most; more are dropped and counted (the service is busy)");
  settings.Bind("reference", "--reference", config.reference,
                "Registry reference (name@alias, name@version or name) that answers the full prompt for "
                "fallbacks and shadow comparisons, e.g. the model fine-tuned with the full prompt or the base "
                "model; default: the served model itself");
  CLI11_PARSE(app, argc, argv);
  if (absl::Status status = settings.Apply(); !status.ok()) {
    std::cerr << "promptintern-inference: " << status.message() << "\n";
    return 2;
  }
  auto security = promptintern::LoadServerSecurity(config.listener.security);
  if (!security.ok()) {
    std::cerr << "promptintern-inference: " << security.status().message() << "\n";
    return 2;
  }
  if (config.max_batch_size < 1 || config.max_waiting < 0 || config.max_step_tokens < 1 || config.block_size < 1 ||
      config.block_size > 1024 || config.kv_cache_mb < 0 || config.kv_cache_mb > (int64_t{1} << 24) ||
      config.stream_buffer_tokens < 1 || config.max_adapters < 0 || config.max_adapters > 4096 ||
      !(config.stall_seconds > 0) || !(config.poll_seconds > 0)) {
    std::cerr << "promptintern-inference: max_batch_size, max_step_tokens, stream_buffer_tokens (>= 1), block_size "
                 "(1..1024), max_waiting, kv_cache_mb (>= 0), max_adapters (0..4096), stall_seconds and poll_seconds (> 0) are out of range\n";
    return 2;
  }
  if (!(config.min_confidence >= 0 && config.min_confidence <= 1)) {
    std::cerr << "promptintern-inference: min_confidence: " << config.min_confidence << " is outside [0, 1]\n";
    return 2;
  }
  if (!(config.shadow_rate >= 0 && config.shadow_rate <= 1)) {
    std::cerr << "promptintern-inference: shadow_rate: " << config.shadow_rate << " is outside [0, 1]\n";
    return 2;
  }
  if (config.shadow_max_pending < 1 || config.shadow_max_pending > 1024) {
    std::cerr << "promptintern-inference: shadow_max_pending: " << config.shadow_max_pending
              << " is outside [1, 1024]\n";
    return 2;
  }
  if (config.model.empty()) {
    std::cerr << "promptintern-inference: --model (or model: in the config) is required\n";
    return 2;
  }
  std::optional<promptintern::WeightFormat> weights;
  if (!config.weights.empty()) {
    auto parsed = promptintern::ParseWeightFormat(config.weights);
    if (!parsed.ok()) {
      std::cerr << "promptintern-inference: --weights: " << parsed.status().message() << "\n";
      return 2;
    }
    weights = *parsed;
  }
  promptintern::SetComputeThreads(config.threads);

  auto registry = promptintern::ModelRegistry::OpenLocal(config.registry_dir);
  if (!registry.ok()) {
    std::cerr << "promptintern-inference: " << registry.status().message() << "\n";
    return 1;
  }
  promptintern::InferenceMetrics metrics;
  promptintern::ServingOptions serving_options;
  serving_options.max_adapters = config.max_adapters;
  serving_options.weights = weights;
  promptintern::EngineOptions& engine_options = serving_options.engine;
  engine_options.max_batch_size = config.max_batch_size;
  engine_options.max_waiting = config.max_waiting;
  engine_options.max_step_tokens = config.max_step_tokens;
  engine_options.kv_cache_bytes = config.kv_cache_mb << 20;
  engine_options.block_size = config.block_size;
  engine_options.prefix_caching = config.prefix_caching;
  // Set before any engine starts, so the engine thread only ever reads it.
  engine_options.step_observer = [&metrics](const promptintern::EngineStepStats& step) { metrics.RecordStep(step); };
  promptintern::ModelHolder holder(registry->get(), config.model, serving_options);
  std::optional<promptintern::ModelHolder> reference;
  if (!config.reference.empty()) {
    // An engine of its own with the same limits; its steps are not the served engine's metrics.
    promptintern::ServingOptions reference_options = serving_options;
    reference_options.engine.step_observer = nullptr;
    reference.emplace(registry->get(), config.reference, reference_options);
  }
  promptintern::InferenceLimits limits;
  limits.default_max_tokens = config.default_max_tokens;
  limits.input_price_per_million = config.input_price;
  limits.output_price_per_million = config.output_price;
  limits.stream_buffer_tokens = config.stream_buffer_tokens;
  limits.min_confidence = config.min_confidence;
  limits.shadow_rate = config.shadow_rate;
  limits.shadow_max_pending = config.shadow_max_pending;
  promptintern::InferenceServiceImpl service(&holder, reference ? &*reference : nullptr, &metrics, limits,
                                             security->authenticator.get());

  std::unique_ptr<promptintern::MetricsHttpServer> metrics_server;
  if (!config.listener.metrics_listen.empty()) {
    auto started = promptintern::MetricsHttpServer::Start(config.listener.metrics_listen, metrics.registry());
    if (!started.ok()) {
      std::cerr << "promptintern-inference: " << started.status().message() << "\n";
      return 1;
    }
    metrics_server = std::move(started).value();
    std::fprintf(stderr, "promptintern-inference: metrics on port %d\n", metrics_server->port());
  }
  auto server = promptintern::StartGrpcServer(
      {config.listener.listen, config.listener.max_message_bytes, security->credentials,
       config.listener.health_listen}, {&service});
  if (!server.ok()) {
    std::cerr << "promptintern-inference: " << server.status().message() << "\n";
    return 1;
  }
  (*server)->SetServing(false);  // NOT_SERVING until a version (and the reference's) is loaded and warmed up
  if ((*server)->health_port() != 0) {
    std::fprintf(stderr, "promptintern-inference: health on port %d\n", (*server)->health_port());
  }
  std::fprintf(stderr, "promptintern-inference: serving on port %d%s%s, following %s\n", (*server)->port(),
               config.listener.security.tls() ? " with TLS" : "", security->authenticator->enabled() ? ", bearer tokens required" : "",
               config.model.c_str());

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  const absl::Duration poll = absl::Seconds(config.poll_seconds);
  // One registry reference followed: what it names is loaded when that changes, with a backoff
  // after failures. follow() returns whether a version of it is loaded.
  struct Followed {
    promptintern::ModelHolder* holder;
    promptintern::ReloadBackoff backoff;
  };
  std::vector<Followed> followed;
  followed.push_back({&holder, promptintern::ReloadBackoff(poll, absl::Minutes(1), absl::Minutes(1))});
  if (reference) followed.push_back({&*reference, promptintern::ReloadBackoff(poll, absl::Minutes(1), absl::Minutes(1))});
  auto follow = [&](Followed& one) {
    const std::string& name = one.holder->reference();
    absl::StatusOr<int64_t> target = (*registry)->Resolve(name);
    const std::optional<int64_t> version = target.ok() ? std::optional<int64_t>(*target) : std::nullopt;
    // false: nothing new to serve (also while waiting to load a failed version again).
    absl::StatusOr<bool> swapped = false;
    const bool attempt = one.backoff.ShouldTry(version, absl::Now());
    if (attempt) swapped = one.holder->Refresh();
    if (attempt && swapped.ok()) one.backoff.Succeeded();
    if (!swapped.ok()) {
      metrics.CountLoadFailure(name);
      const std::string line = one.backoff.Failed(version, swapped.status(), absl::Now());
      if (!line.empty()) std::fprintf(stderr, "promptintern-inference: cannot load %s: %s\n", name.c_str(), line.c_str());
    } else if (*swapped) {
      std::shared_ptr<promptintern::ServedModel> current = one.holder->current();
      if (one.holder == &holder) metrics.SetModel(current->name(), current->version(), current->base_model());
      std::fprintf(stderr, "promptintern-inference: now %s %s@%ld\n", one.holder == &holder ? "serving" : "referring to",
                   current->name().c_str(), current->version());
    }
    return one.holder->current() != nullptr;
  };
  std::thread watcher([&] {
    while (true) {
      bool loaded = true;
      for (Followed& one : followed) loaded = follow(one) && loaded;
      // Ready once every followed version is loaded. A loaded engine that has work but has not
      // finished a step for stall_seconds is stuck: readiness says so, so traffic goes elsewhere,
      // and comes back once it moves again.
      if (std::shared_ptr<promptintern::ServedModel> current = holder.current(); current != nullptr) {
        const promptintern::EngineStats stats = current->engine().stats();
        const bool stalled = stats.busy && absl::Now() - stats.last_progress > absl::Seconds(config.stall_seconds);
        (*server)->SetServing(loaded && !stalled);
      }
      std::unique_lock<std::mutex> lock(stop_mu);
      if (stop_cv.wait_for(lock, std::chrono::duration<double>(config.poll_seconds), [&] { return stopping; })) return;
    }
  });

  promptintern::WaitForTerminationSignal();
  std::fprintf(stderr, "promptintern-inference: draining\n");
  (*server)->Shutdown(std::chrono::seconds(30));
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stopping = true;
  }
  stop_cv.notify_all();
  watcher.join();
  return 0;
}
