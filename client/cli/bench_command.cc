// `promptintern bench`: a closed-loop load against the inference service. N clients each send a
// request, wait for its last token, and send the next, for S seconds; queries come from the
// synthetic NL-to-bash generator.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "client/cli/commands.h"
#include "client/cli/connection_flags.h"
#include "client/lib/inference_client.h"
#include "tasks/bash/synthetic_bash.h"
#include "core/eval/metrics.h"

namespace promptintern::cli {
namespace {

struct BenchFlags {
  ConnectionFlags server;
  int concurrency = 1;
  double duration_seconds = 10;
  std::string mode = "query_only";
  int max_tokens = 32;
};

struct Sample {
  double latency = 0;
  double first_token = 0;
  int64_t input_tokens = 0;
  int64_t baseline_input_tokens = 0;
  int64_t output_tokens = 0;
  double cost = 0;
  double baseline_cost = 0;
  bool fallback = false;  // answered by the full prompt after a low confidence
  double net_saved_cost = 0;
};

int RunBench(const BenchFlags& flags) {
  absl::StatusOr<Connection> connection = OpenConnection(flags.server);
  if (!connection.ok()) {
    std::cerr << "promptintern bench: " << connection.status().message() << "\n";
    return 2;
  }
  const std::vector<Example> queries = GenerateSyntheticBash(7, 1000);
  v1::PromptMode mode = v1::PROMPT_MODE_QUERY_ONLY;
  if (flags.mode == "full") mode = v1::PROMPT_MODE_FULL;
  if (flags.mode == "compressed") mode = v1::PROMPT_MODE_COMPRESSED;
  std::mutex mu;
  std::vector<Sample> samples;
  std::atomic<int> errors{0};
  std::string first_error;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(flags.duration_seconds));
  std::vector<std::thread> clients;
  for (int c = 0; c < flags.concurrency; ++c) {
    clients.emplace_back([&, c] {
      InferenceClient client(*connection);
      for (size_t i = c; std::chrono::steady_clock::now() < end; i += flags.concurrency) {
        v1::GenerateRequest request;
        request.set_query(queries[i % queries.size()].query);
        request.set_max_tokens(flags.max_tokens);
        request.set_prompt_mode(mode);
        const auto sent = std::chrono::steady_clock::now();
        double first_token = -1;
        auto last = client.GenerateStream(request, [&](const v1::GenerateResponse& chunk) {
          if (first_token < 0 && !chunk.text().empty()) {
            first_token = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
          }
        });
        const double latency = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
        std::lock_guard<std::mutex> lock(mu);
        if (!last.ok()) {
          if (errors++ == 0) first_error = std::string(last.status().message());
          continue;
        }
        const v1::Usage& usage = last->usage();
        samples.push_back({latency, first_token < 0 ? latency : first_token, usage.input_tokens(),
                           usage.baseline_input_tokens(), usage.output_tokens(), usage.cost_usd(),
                           usage.baseline_cost_usd(), last->answered_by() == "reference",
                           usage.net_saved_cost_usd()});
      }
    });
  }
  for (std::thread& client : clients) client.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<double> latencies, first_tokens;
  double input = 0, baseline = 0, output = 0, cost = 0, baseline_cost = 0, net_saved_cost = 0;
  int64_t fallbacks = 0;
  for (const Sample& sample : samples) {
    latencies.push_back(sample.latency);
    first_tokens.push_back(sample.first_token);
    input += sample.input_tokens;
    baseline += sample.baseline_input_tokens;
    output += sample.output_tokens;
    cost += sample.cost;
    baseline_cost += sample.baseline_cost;
    net_saved_cost += sample.net_saved_cost;
    fallbacks += sample.fallback;
  }
  const double n = std::max<double>(1, samples.size());
  const LatencySummary latency = SummarizeLatencies(latencies).value_or(LatencySummary{});
  const LatencySummary ttft = SummarizeLatencies(first_tokens).value_or(LatencySummary{});
  std::printf("mode %s, concurrency %d, %.1f s: %zu requests, %d errors%s%s\n", flags.mode.c_str(), flags.concurrency,
              elapsed, samples.size(), errors.load(), errors > 0 ? ", first: " : "", first_error.c_str());
  std::printf("throughput      %.2f requests/s, %.1f output tokens/s\n", samples.size() / elapsed, output / elapsed);
  std::printf("latency         p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n", 1000 * latency.p50, 1000 * latency.p90,
              1000 * latency.p99);
  std::printf("first token     p50 %.1f ms, p99 %.1f ms\n", 1000 * ttft.p50, 1000 * ttft.p99);
  std::printf("input tokens    %.1f per request (full prompt: %.1f)\n", input / n, baseline / n);
  std::printf("cost            $%.5f per 1k requests (full prompt: $%.5f)\n", cost / n * 1000, baseline_cost / n * 1000);
  std::printf("fallbacks       %ld (%.1f%%); saved net of them $%.5f per 1k requests (%.1f%% of the full prompt's cost)\n",
              static_cast<long>(fallbacks), 100.0 * fallbacks / n, net_saved_cost / n * 1000,
              baseline_cost > 0 ? 100.0 * net_saved_cost / baseline_cost : 0.0);
  return errors > 0 ? 1 : 0;
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, std::function<int()>* run) {
  auto flags = std::make_shared<BenchFlags>();
  flags->server.options.address = "127.0.0.1:50052";
  CLI::App* command = app.add_subcommand("bench", "Closed-loop load against the inference service");
  AddConnectionFlags(command, &flags->server, "Inference service address");
  command->add_option("--concurrency", flags->concurrency, "Clients sending at once")->check(CLI::Range(1, 1024));
  command->add_option("--duration", flags->duration_seconds, "Seconds of load")->check(CLI::Range(0.1, 86400.0));
  command->add_option("--mode", flags->mode, "query_only, full or compressed")
      ->check(CLI::IsMember({"query_only", "full", "compressed"}));
  command->add_option("--max-tokens", flags->max_tokens, "max_tokens of each request")->check(CLI::Range(1, 1024));
  command->callback([flags, run] { *run = [flags] { return RunBench(*flags); }; });
}

}  // namespace promptintern::cli
