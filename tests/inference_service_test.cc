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
#include <functional>
#include <map>
#include <set>
#include <regex>
#include <thread>

#include "absl/time/clock.h"
#include "client/lib/inference_client.h"
#include "client/lib/trainer_client.h"
#include "core/checkpoint/checkpoint.h"
#include "core/eval/metrics.h"
#include "core/model/decoder.h"
#include "core/registry/registry.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tasks/bash/bash_structure.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::FreePort;
using ::promptintern::testing::HealthServing;
using ::promptintern::testing::HttpGet;
using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::InferenceArguments;
using ::promptintern::testing::Publish;
using ::promptintern::testing::Query;
using ::promptintern::testing::SaveRandomAdapter;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::StartServingStack;
using ::promptintern::testing::SumOf;
using ::promptintern::testing::TreeDigest;
using ::promptintern::testing::TinyJobYaml;

TEST(InferenceServiceTest, ServesByAliasAndSwapsVersionsUnderLoadWithoutFailures) {
  const std::string dir = MakeTempDir("inference_service");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "bash", trainer_process, inference_process);
  TrainerClient trainer(trainer_process.address());
  InferenceClient client(inference_process.address());
  auto info = client.GetModel();
  ASSERT_THAT(info, IsOk());
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
  ASSERT_THAT(unary, IsOk());
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
  ASSERT_THAT(last, IsOk());
  account(*last);
  EXPECT_EQ(streamed, unary->text()) << "greedy: the stream must spell the unary answer";
  EXPECT_EQ(last->finish_reason(), unary->finish_reason());

  v1::GenerateRequest full = Query("count the lines of notes.txt", 4);
  full.set_prompt_mode(v1::PROMPT_MODE_FULL);
  auto full_response = client.Generate(full);
  ASSERT_THAT(full_response, IsOk());
  account(*full_response);
  EXPECT_EQ(full_response->usage().input_tokens(), full_response->usage().baseline_input_tokens());

  // Bad requests: clear errors, and the service stays up.
  EXPECT_THAT(client.Generate(Query("", 4)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client.Generate(Query("x", 5000)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client.Generate(Query(std::string(20000, 'a'), 4)), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::GenerateRequest wrong_model = Query("x", 4);
  wrong_model.set_model("nope");
  EXPECT_THAT(client.Generate(wrong_model), StatusIs(absl::StatusCode::kNotFound));
  v1::GenerateRequest bad_sampling = Query("x", 4);
  bad_sampling.set_temperature(-1);
  EXPECT_THAT(client.Generate(bad_sampling), StatusIs(absl::StatusCode::kInvalidArgument));

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
  ASSERT_THAT(trainer.SetAlias("bash", "production", 2, "test"), IsOk());
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
  // Fallbacks and shadow comparisons on, so their series are linted and scraped too.
  StartServingStack(dir, "scraped", trainer_process, inference_process, {"--min-confidence", "1", "--shadow-rate", "1"});
  InferenceClient client(inference_process.address());
  int64_t saved = 0;
  double cost = 0;
  double net_saved_cost = 0;
  for (int i = 0; i < 5; ++i) {
    auto response = client.Generate(Query("show disk usage of folder " + std::to_string(i), 6));
    ASSERT_THAT(response, IsOk());
    saved += response->usage().saved_input_tokens();
    cost += response->usage().cost_usd();
    net_saved_cost += response->usage().net_saved_cost_usd();
  }
  const int metrics_port = inference_process.LoggedNumber("metrics on port ");
  const std::string exposition = HttpGet(metrics_port, "/metrics");
  ASSERT_THAT(WriteFileAtomic(dir + "/metrics.txt", exposition), IsOk());
  const std::string promtool = "/usr/bin/promtool check metrics < " + dir + "/metrics.txt > " + dir + "/promtool.txt 2>&1";
  EXPECT_EQ(std::system(promtool.c_str()), 0);
  EXPECT_EQ(*ReadFile(dir + "/promtool.txt"), "") << "promtool reported problems";

  const int prometheus_port = FreePort();
  ASSERT_THAT(WriteFileAtomic(dir + "/prometheus.yml",
                              "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: inference\n"
                              "    static_configs: [{targets: ['127.0.0.1:" + std::to_string(metrics_port) + "']}]\n")
                  , IsOk());
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
  double scraped_net = 1;  // the real one is negative: every request fell back
  // Prometheus starts and scrapes every second; a loaded machine can take a while.
  for (int i = 0; i < 360 && (scraped_saved < 0 || scraped_cost < 0 || scraped_net > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::smatch match;
    const std::string saved_answer =
        HttpGet(prometheus_port, "/api/v1/query?query=sum(promptintern_saved_input_tokens_total)");
    if (std::regex_search(saved_answer, match, value)) scraped_saved = std::stod(match[1]);
    const std::string cost_answer = HttpGet(prometheus_port, "/api/v1/query?query=sum(promptintern_cost_usd_total)");
    if (std::regex_search(cost_answer, match, value)) scraped_cost = std::stod(match[1]);
    const std::string net_answer = HttpGet(prometheus_port, "/api/v1/query?query=sum(promptintern_net_saved_cost_usd)");
    if (std::regex_search(net_answer, match, value)) scraped_net = std::stod(match[1]);
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(scraped_saved, static_cast<double>(saved));
  EXPECT_NEAR(scraped_cost, cost, 1e-9);
  EXPECT_NEAR(scraped_net, net_saved_cost, 1e-9);
}

TEST(InferenceServiceTest, AThresholdAboveEveryConfidenceSendsEveryRequestToTheFullPrompt) {
  const std::string dir = MakeTempDir("inference_fallback");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  // A confidence is a probability, at most 1, and a model after six steps is never certain.
  StartServingStack(dir, "unsure", trainer_process, inference_process, {"--min-confidence", "1"});
  InferenceClient client(inference_process.address());
  int64_t net_saved_tokens = 0;
  double net_saved_cost = 0;
  int fallbacks = 0;
  for (int i = 0; i < 6; ++i) {
    const v1::GenerateRequest request = Query("list files in folder " + std::to_string(i), 6);
    std::string streamed;
    // Every other request streams: the chosen answer arrives whole, never the discarded one.
    auto response = i % 2 == 0 ? client.Generate(request)
                               : client.GenerateStream(request, [&](const v1::GenerateResponse& chunk) {
                                   streamed += chunk.text();
                                 });
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(response->answered_by(), "reference");
    const v1::Usage& usage = response->usage();
    EXPECT_GT(response->confidence().score(), 0.0);
    EXPECT_LT(response->confidence().score(), 1.0);
    EXPECT_LE(response->confidence().min_logprob(), response->confidence().mean_logprob());
    EXPECT_EQ(usage.fallback_input_tokens(), usage.baseline_input_tokens());
    EXPECT_GT(usage.fallback_cost_usd(), 0.0);
    EXPECT_EQ(usage.net_saved_input_tokens(),
              usage.baseline_input_tokens() - usage.input_tokens() - usage.fallback_input_tokens());
    EXPECT_NEAR(usage.net_saved_cost_usd(), usage.baseline_cost_usd() - usage.cost_usd() - usage.fallback_cost_usd(),
                1e-12);
    EXPECT_LT(usage.net_saved_cost_usd(), 0.0) << "a fallback costs more than the full prompt alone";
    // The answer is the full prompt's (greedy, so the same as asking for it).
    v1::GenerateRequest full = request;
    full.set_prompt_mode(v1::PROMPT_MODE_FULL);
    auto reference = client.Generate(full);
    ASSERT_THAT(reference, IsOk());
    EXPECT_EQ(reference->answered_by(), "model");
    EXPECT_EQ(reference->usage().fallback_input_tokens(), 0);
    if (i % 2 == 0) {
      EXPECT_EQ(response->text(), reference->text());
    } else {
      EXPECT_EQ(streamed, reference->text());
    }
    net_saved_tokens += usage.net_saved_input_tokens() + reference->usage().net_saved_input_tokens();
    net_saved_cost += usage.net_saved_cost_usd() + reference->usage().net_saved_cost_usd();
    ++fallbacks;
  }
  // A request's own min_confidence wins over the server's: 0 turns the fallback off.
  v1::GenerateRequest confident = Query("list files in folder 0", 6);
  confident.set_min_confidence(0);
  auto direct = client.Generate(confident);
  ASSERT_THAT(direct, IsOk());
  EXPECT_EQ(direct->answered_by(), "model");
  EXPECT_EQ(direct->usage().net_saved_input_tokens(), direct->usage().saved_input_tokens());
  net_saved_tokens += direct->usage().net_saved_input_tokens();
  net_saved_cost += direct->usage().net_saved_cost_usd();
  confident.set_min_confidence(1.5);
  auto refused = client.Generate(confident);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(refused.status().message().find("min_confidence"), std::string::npos) << refused.status();

  const std::string exposition = HttpGet(inference_process.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_EQ(SumOf(exposition, "promptintern_fallbacks_total"), fallbacks);
  EXPECT_EQ(SumOf(exposition, "promptintern_net_saved_input_tokens"), static_cast<double>(net_saved_tokens));
  EXPECT_NEAR(SumOf(exposition, "promptintern_net_saved_cost_usd"), net_saved_cost, 1e-9);
}

// The value of the one sample of `metric` whose labels include every `label="value"` of `labels`.
double SumWhere(const std::string& exposition, const std::string& metric, const std::vector<std::string>& labels) {
  double sum = 0;
  const std::regex line("(^|\n)" + metric + "\\{([^}]*)\\} ([0-9.eE+-]+)");
  for (auto it = std::sregex_iterator(exposition.begin(), exposition.end(), line); it != std::sregex_iterator(); ++it) {
    const std::string found = (*it)[2];
    bool all = true;
    for (const std::string& label : labels) all = all && found.find(label) != std::string::npos;
    if (all) sum += std::stod((*it)[3]);
  }
  return sum;
}

// Polls the metrics until `done` holds for them (shadow work finishes after its response); the
// last exposition either way.
std::string MetricsWhen(int port, const std::function<bool(const std::string&)>& done) {
  std::string exposition;
  for (int i = 0; i < 600; ++i) {
    exposition = HttpGet(port, "/metrics");
    if (done(exposition)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return exposition;
}

TEST(InferenceServiceTest, ShadowAtRateOneComparesEveryRequestAndItsCountersEqualTheResponses) {
  const std::string dir = MakeTempDir("inference_shadow");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "shadowed", trainer_process, inference_process, {"--shadow-rate", "1"});
  InferenceClient client(inference_process.address());
  const int port = inference_process.LoggedNumber("metrics on port ");
  double exact = 0;
  double structure = 0;  // the served task's own metric (its kind, synthetic-bash)
  double cost = 0;
  const int requests = 6;
  for (int i = 0; i < requests; ++i) {
    const v1::GenerateRequest request = Query("find files named notes " + std::to_string(i), 6);
    auto live = client.Generate(request);
    ASSERT_THAT(live, IsOk());
    // What the shadow asked the reference, asked directly (greedy: the same answer; the full
    // prompt is never shadowed, it is the reference).
    v1::GenerateRequest full = request;
    full.set_prompt_mode(v1::PROMPT_MODE_FULL);
    auto reference = client.Generate(full);
    ASSERT_THAT(reference, IsOk());
    exact += ExactMatch(live->text(), reference->text()) ? 1 : 0;
    structure += BashStructureScore(NormalizeWhitespace(live->text()), NormalizeWhitespace(reference->text()));
    cost += reference->usage().cost_usd();
    // One at a time, so the bounded backlog never has to drop one.
    MetricsWhen(port, [&](const std::string& e) { return SumOf(e, "promptintern_shadow_requests_total") == i + 1; });
  }
  // A request's own `shadow: false` wins over the rate.
  v1::GenerateRequest unshadowed = Query("find files named notes 0", 6);
  unshadowed.set_shadow(false);
  ASSERT_THAT(client.Generate(unshadowed), IsOk());

  const std::string exposition = HttpGet(port, "/metrics");
  EXPECT_EQ(SumOf(exposition, "promptintern_shadow_requests_total"), requests);
  EXPECT_EQ(SumOf(exposition, "promptintern_shadow_dropped_total"), 0);
  EXPECT_EQ(SumWhere(exposition, "promptintern_shadow_agreement_count", {"measure=\"exact_match\""}), requests);
  EXPECT_EQ(SumWhere(exposition, "promptintern_shadow_agreement_count", {"measure=\"edit_similarity\""}), requests);
  EXPECT_EQ(SumWhere(exposition, "promptintern_shadow_agreement_sum", {"measure=\"exact_match\""}), exact);
  EXPECT_EQ(SumWhere(exposition, "promptintern_shadow_agreement_count", {"measure=\"structure\""}), requests);
  EXPECT_NEAR(SumWhere(exposition, "promptintern_shadow_agreement_sum", {"measure=\"structure\""}), structure, 1e-6);
  EXPECT_NEAR(SumOf(exposition, "promptintern_shadow_cost_usd_total"), cost, 1e-9);
  EXPECT_NE(exposition.find("promptintern_shadow_requests_total{model=\"shadowed\",version=\"1\"}"),
            std::string::npos);
}

// --reference: fallbacks and shadows are answered by another registered version (here a model of
// its own, trained on the same task from another seed), checked against that version served on
// its own.
TEST(InferenceServiceTest, AReferenceVersionAnswersFallbacksAndShadowsOnceLoaded) {
  const std::string dir = MakeTempDir("inference_reference");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "short", trainer_process, inference_process,
                    {"--min-confidence", "1", "--reference", "referee@1"});
  InferenceClient client(inference_process.address());
  const int port = inference_process.LoggedNumber("metrics on port ");
  // Before the reference exists: not ready (readiness), and a request that would fall back or
  // shadow keeps its own answer, the shadow counted as dropped.
  EXPECT_FALSE(HealthServing(inference_process.address()));
  v1::GenerateRequest early = Query("list files in folder 9", 6);
  early.set_shadow(true);
  auto alone = client.Generate(early);
  ASSERT_THAT(alone, IsOk());
  EXPECT_EQ(alone->answered_by(), "model");
  EXPECT_EQ(alone->usage().fallback_input_tokens(), 0);
  MetricsWhen(port, [](const std::string& e) { return SumOf(e, "promptintern_shadow_dropped_total") == 1; });

  TrainerClient trainer(trainer_process.address());
  // Barely trained from another seed, so the two models answer differently (the served one has
  // learnt to answer blanks) and the answers below show which one answered.
  const std::string referee_job = std::regex_replace(
      std::regex_replace(TinyJobYaml("referee", 4), std::regex("\nseed: [0-9]+"), "\nseed: 11"),
      std::regex("learning_rate: [^,}]+"), "learning_rate: 1e-7");
  auto job = trainer.SubmitJob(referee_job);
  ASSERT_THAT(job, IsOk());
  ASSERT_THAT(trainer.WatchJob(job->job_id(), [](const v1::JobEvent&) { return true; }), IsOk());
  ASSERT_EQ(trainer.GetJob(job->job_id())->model_version(), 1);
  ASSERT_THAT(trainer.SetAlias("referee", "production", 1, "test"), IsOk());
  for (int i = 0; i < 300 && !HealthServing(inference_process.address()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(HealthServing(inference_process.address())) << "ready once the reference is loaded";
  ServiceProcess referee_process;
  ASSERT_TRUE(referee_process.Start(BinaryDir() + "/promptintern-inference", InferenceArguments(dir, "referee"),
                                    dir + "/referee.log"));
  InferenceClient referee(referee_process.address());
  for (int i = 0; i < 300 && !referee.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  int differ = 0;
  for (int i = 0; i < 3; ++i) {
    const v1::GenerateRequest request = Query("list files in folder " + std::to_string(i), 6);
    auto response = client.Generate(request);
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(response->model(), "short");
    EXPECT_EQ(response->answered_by(), "reference");
    v1::GenerateRequest full = request;
    full.set_prompt_mode(v1::PROMPT_MODE_FULL);
    auto expected = referee.Generate(full);
    ASSERT_THAT(expected, IsOk());
    EXPECT_EQ(response->text(), expected->text()) << "the reference's answer to the served task's full prompt";
    EXPECT_EQ(response->usage().fallback_input_tokens(), expected->usage().input_tokens());
    auto own = client.Generate(full);  // the served model's own answer to the full prompt
    ASSERT_THAT(own, IsOk());
    differ += own->text() != expected->text() ? 1 : 0;
  }
  EXPECT_GT(differ, 0) << "the two models answer alike, so the answers above do not show which one answered";
  // A shadow (no fallback) is compared with the reference's answer, at the reference's cost.
  v1::GenerateRequest shadowed = Query("list files in folder 4", 6);
  shadowed.set_min_confidence(0);
  shadowed.set_shadow(true);
  auto live = client.Generate(shadowed);
  ASSERT_THAT(live, IsOk());
  EXPECT_EQ(live->answered_by(), "model");
  v1::GenerateRequest full = shadowed;
  full.set_prompt_mode(v1::PROMPT_MODE_FULL);
  full.set_shadow(false);
  auto expected = referee.Generate(full);
  ASSERT_THAT(expected, IsOk());
  const std::string exposition = MetricsWhen(port, [](const std::string& e) {
    return SumOf(e, "promptintern_shadow_requests_total") == 1;
  });
  EXPECT_EQ(SumWhere(exposition, "promptintern_shadow_agreement_sum", {"measure=\"exact_match\""}),
            ExactMatch(live->text(), expected->text()) ? 1 : 0);
  EXPECT_NEAR(SumOf(exposition, "promptintern_shadow_cost_usd_total"), expected->usage().cost_usd(), 1e-9);
}

TEST(InferenceServiceTest, AQueueFillingLoadShedsShadowWorkCountedWhileLiveRequestsComplete) {
  const std::string dir = MakeTempDir("inference_shadow_load");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "shed", trainer_process, inference_process,
                    {"--shadow-rate", "1", "--shadow-max-pending", "1"});
  const int clients = 12;
  const int per_client = 3;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      InferenceClient client(inference_process.address());
      for (int i = 0; i < per_client; ++i) {
        auto response = client.Generate(Query("copy file " + std::to_string(c * per_client + i), 6));
        EXPECT_THAT(response, IsOk());
        answered += response.ok();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const int live = clients * per_client;
  EXPECT_EQ(answered.load(), live) << "every live request is answered";
  const std::string exposition = MetricsWhen(inference_process.LoggedNumber("metrics on port "), [&](const std::string& e) {
    return SumOf(e, "promptintern_shadow_requests_total") + SumOf(e, "promptintern_shadow_dropped_total") == live;
  });
  const double compared = SumOf(exposition, "promptintern_shadow_requests_total");
  const double dropped = SumOf(exposition, "promptintern_shadow_dropped_total");
  EXPECT_EQ(compared + dropped, live) << "each live request was either compared or its shadow dropped";
  EXPECT_GT(dropped, 0) << "a backlog of one cannot hold the shadows of a batch that finishes together";
  EXPECT_GT(compared, 0);
  EXPECT_EQ(SumWhere(exposition, "promptintern_requests_total", {"code=\"OK\""}), live);
  // Shadow work yields its slot and KV blocks: no live request was ever preempted for it.
  EXPECT_EQ(SumOf(exposition, "promptintern_preemptions_total"), 0);
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
  ASSERT_THAT(registry, IsOk());
  auto directory = (*registry)->Materialize("guarded", 2);
  ASSERT_THAT(directory, IsOk());
  const std::string weights = *directory + "/model.safetensors";
  std::string bytes = *ReadFile(weights);
  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_THAT(WriteFileAtomic(weights, bytes), IsOk());
  // The registry refuses to move an alias onto it; the inference service must also survive an
  // alias that already points at a version whose files rotted afterwards (written directly here).
  EXPECT_THAT(trainer.SetAlias("guarded", "production", 2, "test"), StatusIs(absl::StatusCode::kDataLoss));
  AliasMove rotted_move;
  rotted_move.sequence = 2;
  rotted_move.alias = "production";
  rotted_move.from_version = 1;
  rotted_move.to_version = 2;
  rotted_move.actor = "test";
  rotted_move.time = FormatRfc3339Utc(absl::Now());
  ASSERT_TRUE((*registry)
                  ->storage()
                  .CreateExclusive("models/guarded/audit/00000000000000000002.json", rotted_move.ToJson()->dump() + "\n")
                  .ok());

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
  ASSERT_THAT(response, IsOk());
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
  EXPECT_THAT(client.GetModel(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(client.Generate(Query("x", 4)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(HealthServing(inference_process.address()));
  EXPECT_TRUE(HealthServing(inference_process.address(), "liveness"));
}

// Text fields are bytes on the wire and checked as UTF-8 by the service: INVALID_ARGUMENT naming
// the field, where a proto3 string field made the gRPC library answer INTERNAL without a message.
// An unknown prompt_mode is counted under mode="invalid", not as query_only.
TEST(InferenceServiceTest, InvalidUtf8AndUnknownPromptModeAreRefusedAndCountedUnderTheirOwnLabels) {
  const std::string dir = MakeTempDir("inference_invalid_text");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "text", trainer_process, inference_process);
  InferenceClient client(inference_process.address());

  auto bad_query = client.Generate(Query("ls \xff\xfe", 4));
  EXPECT_THAT(bad_query, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(bad_query.status().message(), "query is not valid UTF-8 (byte 0xFF at offset 3)");
  v1::GenerateRequest bad_stop = Query("list files", 4);
  bad_stop.add_stop("\n");
  bad_stop.add_stop("\xc3");
  EXPECT_EQ(client.Generate(bad_stop).status().message(), "stop[1] is not valid UTF-8 (byte 0xC3 at offset 0)");
  v1::GenerateRequest bad_model = Query("list files", 4);
  bad_model.set_model("text\xed\xa0\x80");  // a UTF-16 surrogate
  EXPECT_EQ(client.Generate(bad_model).status().message(), "model is not valid UTF-8 (byte 0xED at offset 4)");
  std::string streamed;
  EXPECT_THAT(client.GenerateStream(Query("\xc0\xaf", 4), [&](const v1::GenerateResponse& chunk) { streamed += chunk.text(); })
                .status()
                , StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(streamed, "");

  v1::GenerateRequest bad_mode = Query("list files", 4);
  bad_mode.set_prompt_mode(static_cast<v1::PromptMode>(7));
  auto refused = client.Generate(bad_mode);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(refused.status().message(), "prompt_mode: 7 is not a PromptMode");

  auto unicode = client.Generate(Query("liste les fichiers de ~/café — 日本", 4));
  EXPECT_THAT(unicode, IsOk());

  const std::string metrics = HttpGet(inference_process.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"INVALID_ARGUMENT\"", "mode=\"query_only\""}), 4)
      << metrics;
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"INVALID_ARGUMENT\"", "mode=\"invalid\""}), 1);
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"OK\""}), 1);
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"INTERNAL\""}), 0);
}

// Requests whose deadline passes (here while queued behind 47 others, four decoding at a time) are
// counted as DEADLINE_EXCEEDED, as their clients see them, not as CANCELLED.
TEST(InferenceServiceTest, RequestsThatRunOutOfTimeAreCountedAsDeadlineExceeded) {
  const std::string dir = MakeTempDir("inference_deadline");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "deadline", trainer_process, inference_process);
  constexpr int kClients = 48;
  std::vector<std::unique_ptr<InferenceClient>> connected;
  for (int i = 0; i < kClients; ++i) {
    connected.push_back(std::make_unique<InferenceClient>(inference_process.address()));
    ASSERT_THAT(connected.back()->GetModel(), IsOk());  // the channel is up before the clock starts
  }
  std::atomic<int> client_deadlines{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto response = connected[i]->Generate(Query("find files named report " + std::to_string(i), 64), 0.02);
      if (response.status().code() == absl::StatusCode::kDeadlineExceeded) ++client_deadlines;
    });
  }
  for (std::thread& client : clients) client.join();
  ASSERT_GT(client_deadlines.load(), 0) << "the test needs requests that run out of time";

  // Once the count settles, every request that reached the service is in it (the engine finishes
  // a request within milliseconds; half a second without a change means it is idle).
  const int metrics_port = inference_process.LoggedNumber("metrics on port ");
  std::string metrics;
  double counted = -1;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    metrics = HttpGet(metrics_port, "/metrics");
    const double now = SumOf(metrics, "promptintern_requests_total");
    if (now == counted) break;
    counted = now;
  }
  EXPECT_GT(counted, 0);
  EXPECT_LE(counted, kClients);
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"CANCELLED\""}), 0) << metrics;
  EXPECT_GE(SumWhere(metrics, "promptintern_requests_total", {"code=\"DEADLINE_EXCEEDED\""}), 1);
  EXPECT_EQ(SumWhere(metrics, "promptintern_requests_total", {"code=\"DEADLINE_EXCEEDED\""}) +
                SumWhere(metrics, "promptintern_requests_total", {"code=\"OK\""}),
            counted);
}

// A version that cannot load is logged once, not at every poll, and loaded again only after a
// growing interval; each attempt is counted. Moving the alias elsewhere is acted on at once.
TEST(InferenceServiceTest, AFailingReloadIsLoggedOnceAndRetriedWithBackoff) {
  const std::string dir = MakeTempDir("inference_reload_backoff");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "flaky", trainer_process, inference_process);
  TrainerClient trainer(trainer_process.address());
  // Version 2's files are intact as stored (SetAlias verifies them, so the alias may move onto
  // it), but its weights are cut short: it cannot load.
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto first = (*registry)->Open("flaky@1");
  ASSERT_THAT(first, IsOk());
  const std::string broken = dir + "/broken";
  ASSERT_THAT(MakeDirectories(broken), IsOk());
  for (const ManifestFile& file : first->manifest.files) {
    std::string bytes = *ReadFile(JoinPath(first->directory, file.name));
    if (file.name == "model.safetensors") bytes.resize(bytes.size() / 2);
    ASSERT_THAT(WriteFileAtomic(JoinPath(broken, file.name), bytes), IsOk());
  }
  ManifestInfo info;
  info.base_model = "cut short";
  info.tokenizer = first->manifest.tokenizer;
  auto published = (*registry)->Publish("flaky", broken, info);
  ASSERT_THAT(published, IsOk());
  ASSERT_EQ(published->version, 2);
  ASSERT_EQ(Publish(trainer, "flaky", 4), 3);
  ASSERT_THAT(trainer.SetAlias("flaky", "production", 2, "test"), IsOk());

  // 3 s at a 0.2 s poll: 15 polls; with backoff, attempts at about 0, 0.2, 0.6, 1.4 and 3.0 s.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int metrics_port = inference_process.LoggedNumber("metrics on port ");
  const double attempts = SumOf(HttpGet(metrics_port, "/metrics"), "promptintern_model_load_failures_total");
  EXPECT_GE(attempts, 2);
  EXPECT_LE(attempts, 6);
  const std::string log = *ReadFile(dir + "/inference.log");
  size_t lines = 0;
  for (size_t at = log.find("cannot load flaky@production"); at != std::string::npos;
       at = log.find("cannot load flaky@production", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;

  InferenceClient client(inference_process.address());
  ASSERT_THAT(trainer.SetAlias("flaky", "production", 3, "test"), IsOk());
  for (int i = 0; i < 100 && client.GetModel()->version() != 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(client.GetModel()->version(), 3) << "the new target was not held back by the backoff";
}

// SIGKILL in the middle of unary and streaming traffic: nothing under the registry changes (the
// service only reads it), and a restarted service serves again.
TEST(InferenceServiceTest, SigkillUnderLoadLeavesTheRegistryUntouchedAndARestartServes) {
  const std::string dir = MakeTempDir("inference_sigkill");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "killed", trainer_process, inference_process);
  const std::string before = TreeDigest(dir + "/registry");

  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      InferenceClient client(inference_process.address());
      for (int i = 0; !stop; ++i) {
        const v1::GenerateRequest request = Query("show the size of folder " + std::to_string(t * 1000 + i), 16);
        const bool ok = (i % 2 == 0) ? client.Generate(request, 5).ok()
                                     : client.GenerateStream(request, [](const v1::GenerateResponse&) {}, 5).ok();
        if (ok) ++answered;
      }
    });
  }
  for (int i = 0; i < 500 && answered < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(answered.load(), 20);
  const int killed = inference_process.Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL);
  stop = true;
  for (std::thread& worker : load) worker.join();
  EXPECT_EQ(TreeDigest(dir + "/registry"), before) << "the registry changed under the killed service";

  ServiceProcess restarted;
  ASSERT_TRUE(restarted.Start(BinaryDir() + "/promptintern-inference", InferenceArguments(dir, "killed"),
                              dir + "/inference-restarted.log"));
  InferenceClient client(restarted.address());
  for (int i = 0; i < 300 && !client.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto unary = client.Generate(Query("show the size of folder logs", 8));
  EXPECT_THAT(unary, IsOk());
  auto streamed = client.GenerateStream(Query("show the size of folder logs", 8), [](const v1::GenerateResponse&) {});
  EXPECT_THAT(streamed, IsOk());
  EXPECT_EQ(TreeDigest(dir + "/registry"), before);
}

// Publishes the adapter in `adapter_directory` as a version of `name` over `base`@`base_version`,
// with the task of the version in `task_directory`.
absl::StatusOr<int64_t> PublishAdapter(ModelRegistry& registry, const std::string& name,
                                       const std::string& adapter_directory, const std::string& task_directory,
                                       const std::string& base, int64_t base_version) {
  ManifestInfo info;
  info.base_model = base;
  auto task = ReadFile(JoinPath(task_directory, kTaskFile));
  if (!task.ok()) return task.status();
  info.task_json = *task;
  info.adapter_of = AdapterBase{base, base_version};
  auto published = registry.Publish(name, adapter_directory, info);
  if (!published.ok()) return published.status();
  return published->version;
}

TEST(InferenceServiceTest, ServesManyAdaptersOfOneBaseInOneBatchAndRefusesOnesThatDoNotFit) {
  const std::string dir = MakeTempDir("inference_adapters");
  ServiceProcess trainer_process;
  ServiceProcess inference_process;
  StartServingStack(dir, "bash", trainer_process, inference_process, {"--max-adapters", "2"});
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto base_version = (*registry)->Open("bash@1");
  ASSERT_THAT(base_version, IsOk());
  const std::string base_directory = base_version->directory;

  const std::vector<std::vector<std::string>> targets = {
      {"q_proj", "v_proj"}, {"gate_proj", "up_proj", "down_proj"}, {"q_proj", "k_proj", "o_proj"}};
  const std::vector<std::string> names = {"bash-a", "bash-b", "bash-c"};
  for (size_t i = 0; i < names.size(); ++i) {
    auto model = LoadModel(base_directory);
    ASSERT_THAT(model, IsOk());
    const std::string adapter = SaveRandomAdapter(**model, 500 + i, targets[i]);
    ASSERT_FALSE(adapter.empty());
    auto published = PublishAdapter(**registry, names[i], adapter, base_directory, "bash", 1);
    ASSERT_THAT(published, IsOk());
  }

  InferenceClient client(inference_process.address());
  auto ask = [&](const std::string& model, int i) {
    v1::GenerateRequest request = Query(i % 2 == 0 ? "count the lines of notes.txt" : "list files in /tmp", 12);
    request.set_model(model);
    return client.Generate(request);
  };
  // Each model alone first, then all of them at once: the engine batches them together.
  const std::vector<std::string> models = {"", "bash-a", "bash-b", "bash-c"};
  std::map<std::pair<std::string, int>, std::string> alone;
  for (const std::string& model : models) {
    for (int i = 0; i < 2; ++i) {
      auto response = ask(model, i);
      ASSERT_TRUE(response.ok()) << model << ": " << response.status();
      EXPECT_EQ(response->model(), model.empty() ? "bash" : model);
      EXPECT_EQ(response->model_version(), 1);
      alone[std::make_pair(model, i)] = response->text();
    }
  }
  std::set<std::string> distinct;
  for (const std::string& model : models) distinct.insert(alone[std::make_pair(model, 0)]);
  EXPECT_GE(distinct.size(), 3u) << "the adapters must change the answers, or this test proves nothing";

  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0}, failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      InferenceClient own(inference_process.address());
      for (int round = 0; round < 3; ++round) {
        const std::string& model = models[(t + round) % models.size()];
        v1::GenerateRequest request = Query(t % 2 == 0 ? "count the lines of notes.txt" : "list files in /tmp", 12);
        request.set_model(model);
        auto response = own.Generate(request);
        if (!response.ok()) {
          ++failures;
        } else if (response->text() != alone.at({model, t % 2})) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "a mixed batch must give each request what it gets alone";

  // At most two adapters stay loaded; the base is always listed first.
  auto listed = client.ListModels();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].name(), "bash");
  EXPECT_TRUE((*listed)[0].adapter_of().empty());
  for (size_t i = 1; i < listed->size(); ++i) {
    EXPECT_EQ((*listed)[i].adapter_of(), "bash");
    EXPECT_EQ((*listed)[i].adapter_of_version(), 1);
  }
  auto info = client.GetModel("bash-a");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->adapter_of(), "bash");
  EXPECT_GT(info->template_tokens(), 0);

  // What does not fit is refused with a reason, and changes nothing that is served.
  ManifestInfo copy;
  copy.base_model = "copy";
  copy.tokenizer = base_version->manifest.tokenizer;
  ASSERT_TRUE((*registry)->Publish("bash", base_directory, copy).ok());
  {
    auto model = LoadModel(base_directory);
    auto published = PublishAdapter(**registry, "for-v2", SaveRandomAdapter(**model, 600, {"q_proj"}), base_directory,
                                    "bash", 2);
    ASSERT_THAT(published, IsOk());
  }
  {
    ModelConfig wider = (*LoadModel(base_directory))->config();
    wider.intermediate_size *= 2;
    auto other = MakeRandomModel(7, wider);
    auto published = PublishAdapter(**registry, "wrong-shape", SaveRandomAdapter(*other, 601, {"up_proj"}),
                                    base_directory, "bash", 1);
    ASSERT_THAT(published, IsOk());
  }
  ASSERT_TRUE((*registry)->Publish("standalone", base_directory, copy).ok());
  const std::vector<std::pair<std::string, std::string>> refusals = {
      {"for-v2", "is an adapter of bash@2; this service serves bash@1"},
      {"wrong-shape", "does not fit bash@1"},
      {"standalone", "is a model of its own, not an adapter"},
      {"bash@2", "this service serves bash@1"},
  };
  for (const auto& [model, reason] : refusals) {
    SCOPED_TRACE(model);
    auto refused = ask(model, 0);
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_NE(std::string(refused.status().message()).find(reason), std::string::npos) << refused.status();
  }
  EXPECT_THAT(ask("ghost", 0), StatusIs(absl::StatusCode::kNotFound));
  for (const std::string& model : models) {
    auto response = ask(model, 0);
    ASSERT_TRUE(response.ok()) << model << ": " << response.status();
    EXPECT_EQ(response->text(), alone[std::make_pair(model, 0)]);
  }
  EXPECT_TRUE(HealthServing(inference_process.address()));

  // Requests are counted under the adapter's own model label.
  const std::string exposition = HttpGet(inference_process.LoggedNumber("metrics on port "), "/metrics");
  EXPECT_NE(exposition.find("model=\"bash-b\""), std::string::npos);
}

}  // namespace
}  // namespace promptintern
