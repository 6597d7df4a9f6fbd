// The inference service end to end: the trainer publishes, promptintern-inference loads the model by
// alias, answers Generate and GenerateStream, and swaps to a new version while a load runs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <thread>

#include "client/lib/inference_client.h"
#include "client/lib/trainer_client.h"
#include "core/registry/registry.h"
#include "core/util/file.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::FreePort;
using ::promptintern::testing::HealthServing;
using ::promptintern::testing::HttpGet;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::Publish;
using ::promptintern::testing::Query;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::StartServingStack;
using ::promptintern::testing::SumOf;

TEST(InferenceServiceTest, ServesByAliasAndSwapsVersionsUnderLoadWithoutFailures) {
  const std::string dir = MakeTempDir("inference_service");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "bash", trainer_process, inference_process);
  TrainerClient trainer(trainer_process.address());
  InferenceClient client(inference_process.address());
  auto info = client.GetModel();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "bash");
  EXPECT_EQ(info->version(), 1);
  EXPECT_EQ(info->reference(), "bash@production");

  double saved_sum = 0, cost_sum = 0, baseline_cost_sum = 0;
  auto account = [&](const v1::GenerateResponse& response) {
    saved_sum += response.usage().saved_input_tokens();
    cost_sum += response.usage().cost_usd();
    baseline_cost_sum += response.usage().baseline_cost_usd();
  };

  auto unary = client.Generate(Query("count the lines of notes.txt", 12));
  ASSERT_TRUE(unary.ok()) << unary.status();
  account(*unary);
  const v1::Usage& usage = unary->usage();
  EXPECT_GT(usage.baseline_input_tokens(), 3 * usage.input_tokens()) << "the full prompt carries template + examples";
  EXPECT_EQ(usage.saved_input_tokens(), usage.baseline_input_tokens() - usage.input_tokens());
  EXPECT_LT(usage.cost_usd(), usage.baseline_cost_usd());
  EXPECT_EQ(unary->model_version(), 1);
  EXPECT_FALSE(unary->finish_reason().empty());
  EXPECT_GT(unary->timings().total_seconds(), 0);

  std::string streamed;
  auto last = client.GenerateStream(Query("count the lines of notes.txt", 12),
                                    [&](const v1::GenerateResponse& chunk) { streamed += chunk.text(); });
  ASSERT_TRUE(last.ok()) << last.status();
  account(*last);
  EXPECT_EQ(streamed, unary->text()) << "greedy: the stream must spell the unary answer";
  EXPECT_EQ(last->finish_reason(), unary->finish_reason());

  v1::GenerateRequest full = Query("count the lines of notes.txt", 4);
  full.set_prompt_mode(v1::PROMPT_MODE_FULL);
  auto full_response = client.Generate(full);
  ASSERT_TRUE(full_response.ok());
  account(*full_response);
  EXPECT_EQ(full_response->usage().input_tokens(), full_response->usage().baseline_input_tokens());

  // Bad requests: clear errors, and the service stays up.
  EXPECT_EQ(client.Generate(Query("", 4)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Generate(Query("x", 5000)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.Generate(Query(std::string(20000, 'a'), 4)).status().code(), absl::StatusCode::kInvalidArgument);
  v1::GenerateRequest wrong_model = Query("x", 4);
  wrong_model.set_model("nope");
  EXPECT_EQ(client.Generate(wrong_model).status().code(), absl::StatusCode::kNotFound);
  v1::GenerateRequest bad_sampling = Query("x", 4);
  bad_sampling.set_temperature(-1);
  EXPECT_EQ(client.Generate(bad_sampling).status().code(), absl::StatusCode::kInvalidArgument);

  // A second version, then the alias moves while four clients keep sending requests.
  ASSERT_EQ(Publish(trainer, "bash", 8), 2);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served_v1{0}, served_v2{0};
  std::mutex account_mu;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      InferenceClient worker(inference_process.address());
      for (int i = 0; !stop; ++i) {
        auto response = worker.Generate(Query("find logs number " + std::to_string(t * 1000 + i), 6));
        if (!response.ok()) {
          ++failures;
          ADD_FAILURE() << response.status();
          continue;
        }
        (response->model_version() == 1 ? served_v1 : served_v2)++;
        std::lock_guard<std::mutex> lock(account_mu);
        account(*response);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(trainer.SetAlias("bash", "production", 2, "test").ok());
  for (int i = 0; i < 200 && client.GetModel()->version() != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (std::thread& worker : load) worker.join();
  EXPECT_EQ(client.GetModel()->version(), 2);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(served_v1.load(), 0);
  EXPECT_GT(served_v2.load(), 0);

  // The counters are the sums over the responses.
  const std::string metrics = HttpGet(inference_process.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_DOUBLE_EQ(SumOf(metrics, "promptintern_saved_input_tokens_total"), saved_sum);
  EXPECT_NEAR(SumOf(metrics, "promptintern_cost_usd_total"), cost_sum, 1e-9);
  EXPECT_NEAR(SumOf(metrics, "promptintern_baseline_cost_usd_total"), baseline_cost_sum, 1e-9);
  EXPECT_NE(metrics.find("promptintern_model_info{base=\"scratch\",model=\"bash\",version=\"2\"} 1"), std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("version=\"1\"} 1\npromptintern_model_info"), std::string::npos);
  EXPECT_GT(SumOf(metrics, "promptintern_batch_size_count"), 0);
}

// A real Prometheus (Debian's package) scrapes the service; its view of the savings counters must
// equal what the responses reported, and promtool must find nothing wrong with the exposition.
TEST(InferenceServiceTest, RealPrometheusScrapesCountersThatEqualTheResponses) {
  if (!PathExists("/usr/bin/prometheus") || !PathExists("/usr/bin/promtool")) {
    GTEST_SKIP() << "Debian's prometheus package is not installed (scripts/install-deps.sh installs it)";
  }
  const std::string dir = MakeTempDir("inference_prometheus");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "scraped", trainer_process, inference_process);
  InferenceClient client(inference_process.address());
  int64_t saved = 0;
  double cost = 0;
  for (int i = 0; i < 5; ++i) {
    auto response = client.Generate(Query("show disk usage of folder " + std::to_string(i), 6));
    ASSERT_TRUE(response.ok()) << response.status();
    saved += response->usage().saved_input_tokens();
    cost += response->usage().cost_usd();
  }
  const int metrics_port = inference_process.LoggedNumber("metrics on port ");
  const std::string exposition = HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(WriteFileAtomic(dir + "/metrics.txt", exposition).ok());
  const std::string promtool = "/usr/bin/promtool check metrics < " + dir + "/metrics.txt > " + dir + "/promtool.txt 2>&1";
  EXPECT_EQ(std::system(promtool.c_str()), 0);
  EXPECT_EQ(*ReadFile(dir + "/promtool.txt"), "") << "promtool reported problems";

  const int prometheus_port = FreePort();
  ASSERT_TRUE(WriteFileAtomic(dir + "/prometheus.yml",
                              "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: inference\n"
                              "    static_configs: [{targets: ['127.0.0.1:" + std::to_string(metrics_port) + "']}]\n")
                  .ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    freopen((dir + "/prometheus.log").c_str(), "w", stderr);
    execl("/usr/bin/prometheus", "prometheus", ("--config.file=" + dir + "/prometheus.yml").c_str(),
          ("--storage.tsdb.path=" + dir + "/tsdb").c_str(),
          ("--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::regex value("\"value\":\\[[0-9.]+,\"([0-9.eE+-]+)\"\\]");
  double scraped_saved = -1;
  double scraped_cost = -1;
  for (int i = 0; i < 120 && (scraped_saved < 0 || scraped_cost < 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::smatch match;
    const std::string saved_answer =
        HttpGet(prometheus_port, "/api/v1/query?query=sum(promptintern_saved_input_tokens_total)");
    if (std::regex_search(saved_answer, match, value)) scraped_saved = std::stod(match[1]);
    const std::string cost_answer = HttpGet(prometheus_port, "/api/v1/query?query=sum(promptintern_cost_usd_total)");
    if (std::regex_search(cost_answer, match, value)) scraped_cost = std::stod(match[1]);
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(scraped_saved, static_cast<double>(saved));
  EXPECT_NEAR(scraped_cost, cost, 1e-9);
}

// A version that fails verification is reported and the previous one keeps serving.
TEST(InferenceServiceTest, CorruptedNewVersionLeavesTheOldOneServing) {
  const std::string dir = MakeTempDir("inference_corrupt");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "guarded", trainer_process, inference_process);
  TrainerClient trainer(trainer_process.address());
  ASSERT_EQ(Publish(trainer, "guarded", 4), 2);
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_TRUE(registry.ok());
  auto directory = (*registry)->Materialize("guarded", 2);
  ASSERT_TRUE(directory.ok());
  const std::string weights = *directory + "/model.safetensors";
  std::string bytes = *ReadFile(weights);
  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomic(weights, bytes).ok());
  ASSERT_TRUE(trainer.SetAlias("guarded", "production", 2, "test").ok());

  InferenceClient client(inference_process.address());
  const int metrics_port = inference_process.LoggedNumber("metrics on port ");
  double failures = 0;
  for (int i = 0; i < 100 && failures == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    failures = SumOf(HttpGet(metrics_port, "/metrics"), "promptintern_model_load_failures_total");
  }
  EXPECT_GT(failures, 0);
  EXPECT_EQ(client.GetModel()->version(), 1);
  auto response = client.Generate(Query("list files", 4));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_version(), 1);
  EXPECT_NE(ReadFile(dir + "/inference.log")->find("model.safetensors"), std::string::npos)
      << "the log names the corrupted file";
}

// Not ready (readiness probe) but alive (liveness probe): Kubernetes keeps the pod without traffic
// instead of restarting it while the first model is not there yet.
TEST(InferenceServiceTest, UnknownModelLeavesTheServiceNotServingButAlive) {
  const std::string dir = MakeTempDir("inference_unknown");
  ServiceProcess inference_process;
  ASSERT_TRUE(inference_process.Start(BinaryDir() + "/promptintern-inference",
                                      {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--registry-dir",
                                       dir + "/registry", "--model", "ghost@production", "--poll-seconds", "0.2"},
                                      dir + "/inference.log"));
  InferenceClient client(inference_process.address());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(client.GetModel().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.Generate(Query("x", 4)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(HealthServing(inference_process.address()));
  EXPECT_TRUE(HealthServing(inference_process.address(), "liveness"));
}

}  // namespace
}  // namespace promptintern
