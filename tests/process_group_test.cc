#include "core/distributed/process_group.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/checkpoint/checkpoint.h"
#include "core/model/decoder.h"
#include "core/registry/registry.h"
#include "core/train/causal_lm.h"
#include "core/train/model_trainer.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::FreePort;
using ::promptintern::testing::MakeRandomModel;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::TinyJobYaml;
using ::promptintern::testing::WaitForCheckpointStep;

// Runs `body(group)` as every rank of a `world_size`-rank group, one thread per rank.
void RunRanks(int world_size, const std::function<void(ProcessGroup&)>& body) {
  const int port = FreePort();
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < world_size; ++rank) {
    ranks.emplace_back([&, rank] {
      DistributedConfig config;
      config.master_port = port;
      config.world_size = world_size;
      config.rank = rank;
      config.rendezvous_timeout_seconds = 60;
      config.collective_timeout_seconds = 60;
      auto group = ProcessGroup::Join(config);
      ASSERT_THAT(group, IsOk());
      body(**group);
    });
  }
  for (std::thread& rank : ranks) rank.join();
}

TEST(ProcessGroupTest, CollectivesAgreeAcrossRanks) {
  RunRanks(3, [](ProcessGroup& group) {
    const double rank = group.rank();
    // Sum of tensors of different shapes, in one collective.
    std::vector<at::Tensor> tensors = {torch::full({2, 3}, rank + 1), torch::full({4}, 10 * (rank + 1))};
    ASSERT_THAT(group.AllReduceSum(tensors, "test tensors"), IsOk());
    EXPECT_TRUE(torch::equal(tensors[0], torch::full({2, 3}, 6.0)));
    EXPECT_TRUE(torch::equal(tensors[1], torch::full({4}, 60.0)));

    EXPECT_EQ(*group.AllReduceSum(rank, "ranks"), 3.0);
    EXPECT_EQ(*group.AllReduceMax(rank, "ranks"), 2.0);

    std::vector<at::Tensor> weights = {torch::full({5}, rank), torch::full({1, 2}, -rank)};
    ASSERT_THAT(group.Broadcast(weights, 1, "test weights"), IsOk());
    EXPECT_TRUE(torch::equal(weights[0], torch::full({5}, 1.0)));
    EXPECT_TRUE(torch::equal(weights[1], torch::full({1, 2}, -1.0)));

    const std::string mine = group.rank() == 2 ? std::string("from rank 2\0with a NUL", 22) : "ignored";
    auto text = group.BroadcastString(mine, 2, "a string");
    ASSERT_THAT(text, IsOk());
    EXPECT_EQ(*text, std::string("from rank 2\0with a NUL", 22));
    auto empty = group.BroadcastString(group.rank() == 0 ? "" : "not this", 0, "an empty string");
    ASSERT_THAT(empty, IsOk());
    EXPECT_EQ(*empty, "");
  });
}

class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(std::map<std::string, std::string> values) {
    for (const char* name : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"}) unsetenv(name);
    for (const auto& [name, value] : values) setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    for (const char* name : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"}) unsetenv(name);
  }
};

TEST(ProcessGroupTest, ConfigurationComesFromTheTorchrunVariables) {
  {
    ScopedEnvironment env({});
    auto config = DistributedConfigFromEnvironment();
    ASSERT_THAT(config, IsOk());
    EXPECT_FALSE(config->distributed());
  }
  {
    ScopedEnvironment env({{"MASTER_ADDR", "trainer-master-0"}, {"MASTER_PORT", "23456"}, {"WORLD_SIZE", "4"},
                           {"RANK", "3"}});
    auto config = DistributedConfigFromEnvironment();
    ASSERT_THAT(config, IsOk());
    EXPECT_EQ(config->master_addr, "trainer-master-0");
    EXPECT_EQ(config->master_port, 23456);
    EXPECT_EQ(config->world_size, 4);
    EXPECT_EQ(config->rank, 3);
  }
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> bad = {
      {{{"WORLD_SIZE", "two"}, {"RANK", "0"}}, "WORLD_SIZE"},
      {{{"WORLD_SIZE", "2"}}, "RANK is not set"},
      {{{"WORLD_SIZE", "2"}, {"RANK", "2"}}, "RANK must be in [0, 2)"},
      {{{"WORLD_SIZE", "0"}, {"RANK", "0"}}, "WORLD_SIZE must be >= 1"},
      {{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT"},
      {{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", ""}}, "MASTER_ADDR is empty"},
  };
  for (const auto& [values, expected] : bad) {
    ScopedEnvironment env(values);
    auto config = DistributedConfigFromEnvironment();
    ASSERT_FALSE(config.ok()) << expected;
    EXPECT_NE(config.status().message().find(expected), std::string::npos) << config.status();
  }
}

std::vector<TrainingExample> RandomExamples(int count, int vocab, uint64_t seed) {
  std::mt19937 random(seed);
  std::vector<TrainingExample> examples;
  for (int i = 0; i < count; ++i) {
    TrainingExample example;
    example.prompt_ids.push_back(1);
    // Different lengths, so each rank's slice pads differently from the whole batch.
    for (int t = 0; t < 3 + i % 5; ++t) example.prompt_ids.push_back(3 + random() % (vocab - 3));
    for (int t = 0; t < 2 + i % 3; ++t) example.completion_ids.push_back(3 + random() % (vocab - 3));
    examples.push_back(example);
  }
  return examples;
}

// The ranks sum in another order than one process does (their own slices, then across ranks),
// so weights agree to rounding, not bit for bit. Adam scales that rounding by lr / sqrt(v): a weight
// whose gradient is nearly zero moves by about the learning rate whatever its gradient's last bits
// say. At a fine-tuning learning rate (1e-3) the largest drift here is 3e-6; at 1e-2 one such weight
// of this random model ends 3e-5 apart after four steps.
OptimizerConfig TestOptimizer() {
  OptimizerConfig config;
  config.schedule = {1e-3, 1, 10, 0.1};
  config.weight_decay = 0.01;
  return config;
}

TEST(ProcessGroupTest, TwoRanksTakeTheStepsOneProcessTakesOnTheWholeBatch) {
  constexpr int kSteps = 4;
  constexpr int kGlobalBatch = 6;
  const int vocab = ::promptintern::testing::TinyConfig().vocab_size;
  std::vector<std::vector<TrainingExample>> step_examples;
  for (int step = 0; step < kSteps; ++step) step_examples.push_back(RandomExamples(kGlobalBatch, vocab, 100 + step));

  auto reference = MakeRandomModel(7);
  auto trainer = ModelTrainer::Create(reference.get(), TestOptimizer(), false);
  ASSERT_THAT(trainer, IsOk());
  std::vector<double> reference_losses;
  for (const auto& examples : step_examples) {
    auto batch = CollateBatch(examples, 0, 64);
    ASSERT_THAT(batch, IsOk());
    auto stats = (*trainer)->Step({*batch});
    ASSERT_THAT(stats, IsOk());
    reference_losses.push_back(stats->loss);
  }

  std::vector<std::unique_ptr<DecoderModel>> models(2);
  std::vector<std::vector<double>> losses(2);
  RunRanks(2, [&](ProcessGroup& group) {
    const int rank = group.rank();
    models[rank] = MakeRandomModel(7);
    auto rank_trainer = ModelTrainer::Create(models[rank].get(), TestOptimizer(), false);
    ASSERT_THAT(rank_trainer, IsOk());
    (*rank_trainer)->ShareGradientsWith(&group);
    for (const auto& examples : step_examples) {
      // Two micro-batches per rank: accumulation and data parallelism together.
      const int per_rank = kGlobalBatch / 2;
      const auto begin = examples.begin() + rank * per_rank;
      auto first = CollateBatch({begin, begin + 1}, 0, 64);
      auto rest = CollateBatch({begin + 1, begin + per_rank}, 0, 64);
      ASSERT_TRUE(first.ok() && rest.ok());
      auto stats = (*rank_trainer)->Step({*first, *rest});
      ASSERT_THAT(stats, IsOk());
      losses[rank].push_back(stats->loss);
    }
  });
  ASSERT_NE(models[0], nullptr);
  ASSERT_NE(models[1], nullptr);
  for (int rank = 0; rank < 2; ++rank) {
    for (int step = 0; step < kSteps; ++step) EXPECT_NEAR(losses[rank][step], reference_losses[step], 1e-5);
    auto expected = reference->NamedWeights();
    auto actual = models[rank]->NamedWeights();
    ASSERT_EQ(expected.size(), actual.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const double difference = (expected[i].second - actual[i].second).abs().max().item<double>();
      EXPECT_LT(difference, 1e-5) << "rank " << rank << ": " << expected[i].first;
    }
  }
}

// Where a rank runs: its network namespace (/run/netns/NAME, "" = this one), the address it reaches
// rank 0 at, and the interface Gloo binds (GLOO_SOCKET_IFNAME, "" = the default).
struct RankNetwork {
  std::string netns;
  std::string master_addr = "127.0.0.1";
  std::string interface;
};

// One `promptintern train` process per rank, as a PyTorchJob starts them.
pid_t StartRank(const std::string& job_file, const std::string& output_dir, int rank, int world_size, int port,
                const std::vector<std::string>& extra_arguments, const std::string& log_path,
                const RankNetwork& network = {}) {
  const std::string binary = BinaryDir() + "/promptintern";
  std::vector<std::string> arguments = {binary, "train", "--config", job_file, "--output", output_dir};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  const pid_t child = fork();
  if (child != 0) return child;
  if (!network.netns.empty()) {
    const int ns = open(("/run/netns/" + network.netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(126);
    close(ns);
  }
  if (!network.interface.empty()) setenv("GLOO_SOCKET_IFNAME", network.interface.c_str(), 1);
  setenv("MASTER_ADDR", network.master_addr.c_str(), 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(world_size).c_str(), 1);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  freopen(log_path.c_str(), "w", stderr);
  freopen("/dev/null", "w", stdout);
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

int WaitExitCode(pid_t child) {
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::map<std::string, at::Tensor> FinalWeights(const std::string& output_dir) {
  auto weights = ReadSafetensorsAsFloat(JoinPath(output_dir, "final/model.safetensors"));
  EXPECT_THAT(weights, IsOk());
  return weights.ok() ? *weights : std::map<std::string, at::Tensor>{};
}

void ExpectSameWeights(const std::string& expected_dir, const std::string& actual_dir) {
  const auto expected = FinalWeights(expected_dir);
  const auto actual = FinalWeights(actual_dir);
  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_EQ(actual.count(name), 1u) << name;
    EXPECT_LT((tensor - actual.at(name)).abs().max().item<double>(), 1e-5) << name;
  }
}

std::string WriteJob(const std::string& dir, int steps) {
  const std::string path = JoinPath(dir, "job.yaml");
  EXPECT_THAT(WriteFileAtomic(path, TinyJobYaml("ddp", steps)), IsOk());
  return path;
}

TEST(DataParallelTrainingTest, TwoRankProcessesEndWithTheWeightsOfOneProcess) {
  const std::string dir = MakeTempDir("ddp_processes");
  const std::string job = WriteJob(dir, 8);
  const std::string single = JoinPath(dir, "single");
  const std::string command = BinaryDir() + "/promptintern train --config " + job + " --output " + single +
                              " > /dev/null 2> " + JoinPath(dir, "single.log");
  ASSERT_EQ(std::system(command.c_str()), 0);

  // Rank 1 gets an output directory of its own: rank 0 owns the run's files, so the ranks need
  // no shared storage, and rank 1 must write nothing.
  const std::string registry = JoinPath(dir, "registry");
  const int port = FreePort();
  const pid_t rank1 = StartRank(job, JoinPath(dir, "rank1"), 1, 2, port, {"--registry-dir", registry},
                                JoinPath(dir, "rank1.log"));
  const pid_t rank0 = StartRank(job, JoinPath(dir, "rank0"), 0, 2, port, {"--registry-dir", registry},
                                JoinPath(dir, "rank0.log"));
  EXPECT_EQ(WaitExitCode(rank0), 0) << *ReadFile(JoinPath(dir, "rank0.log"));
  EXPECT_EQ(WaitExitCode(rank1), 0) << *ReadFile(JoinPath(dir, "rank1.log"));
  ExpectSameWeights(single, JoinPath(dir, "rank0"));
  EXPECT_FALSE(PathExists(JoinPath(dir, "rank1")));

  // Published once, by rank 0.
  auto opened = ModelRegistry::OpenLocal(registry);
  ASSERT_THAT(opened, IsOk());
  auto versions = (*opened)->ListVersions("ddp");
  ASSERT_THAT(versions, IsOk());
  EXPECT_EQ(versions->versions.size(), 1u);
}

TEST(DataParallelTrainingTest, KilledRanksResumeFromRankZerosState) {
  constexpr int kSteps = 40;  // long enough that the kill lands mid-run
  const std::string dir = MakeTempDir("ddp_resume");
  const std::string job = WriteJob(dir, kSteps);
  const std::string single = JoinPath(dir, "single");
  const std::string command = BinaryDir() + "/promptintern train --config " + job + " --output " + single +
                              " > /dev/null 2> " + JoinPath(dir, "single.log");
  ASSERT_EQ(std::system(command.c_str()), 0);

  const std::string rank0_dir = JoinPath(dir, "rank0");
  int port = FreePort();
  pid_t rank1 = StartRank(job, JoinPath(dir, "rank1"), 1, 2, port, {}, JoinPath(dir, "rank1.log"));
  pid_t rank0 = StartRank(job, rank0_dir, 0, 2, port, {}, JoinPath(dir, "rank0.log"));
  WaitForCheckpointStep(rank0_dir, 2);
  const std::string progress = JoinPath(rank0_dir, "state/progress.json");
  kill(rank0, SIGKILL);
  kill(rank1, SIGKILL);
  WaitExitCode(rank0);
  WaitExitCode(rank1);
  auto saved = ReadFile(progress);
  ASSERT_THAT(saved, IsOk());
  ASSERT_LT(nlohmann::json::parse(*saved)["global_step"].get<int64_t>(), kSteps) << "the run ended before the kill";

  // The restarted rank 1 has no state at all; it resumes from what rank 0 hands it.
  port = FreePort();
  rank1 = StartRank(job, JoinPath(dir, "rank1-again"), 1, 2, port, {}, JoinPath(dir, "rank1-again.log"));
  rank0 = StartRank(job, rank0_dir, 0, 2, port, {}, JoinPath(dir, "rank0-again.log"));
  EXPECT_EQ(WaitExitCode(rank0), 0) << *ReadFile(JoinPath(dir, "rank0-again.log"));
  EXPECT_EQ(WaitExitCode(rank1), 0) << *ReadFile(JoinPath(dir, "rank1-again.log"));
  ExpectSameWeights(single, rank0_dir);
}

// Two network namespaces joined by a veth pair, made with iproute2 (needs CAP_NET_ADMIN): host 0's
// end has 10.77.0.1, host 1's 10.77.0.2, and the test can cut the link between them. The addresses
// live inside the namespaces, so concurrent runs do not collide; the names carry the pid.
class TwoHostNetwork {
 public:
  ~TwoHostNetwork() {
    for (int host = 0; host < 2; ++host) Ip("netns del " + netns(host));
  }
  std::string netns(int host) const { return absl::StrCat("pi", getpid(), "-", host); }
  std::string interface(int host) const { return absl::StrCat("pi", getpid(), "v", host); }
  std::string address(int host) const { return absl::StrCat("10.77.0.", host + 1); }

  // False with the command that failed in `error`.
  bool Create(std::string* error) {
    std::vector<std::string> commands = {"netns add " + netns(0), "netns add " + netns(1),
                                         absl::StrCat("link add ", interface(0), " netns ", netns(0), " type veth peer name ",
                                                      interface(1), " netns ", netns(1))};
    for (int host = 0; host < 2; ++host) {
      commands.push_back(absl::StrCat("-n ", netns(host), " addr add ", address(host), "/24 dev ", interface(host)));
      commands.push_back(absl::StrCat("-n ", netns(host), " link set lo up"));
      commands.push_back(absl::StrCat("-n ", netns(host), " link set ", interface(host), " up"));
    }
    for (const std::string& command : commands) {
      if (!Ip(command)) {
        *error = "ip " + command + " failed";
        return false;
      }
    }
    return true;
  }
  // Host 0's end down (host 1's loses its carrier) or up again.
  bool SetLink(bool up) {
    return Ip(absl::StrCat("-n ", netns(0), " link set ", interface(0), up ? " up" : " down"));
  }

 private:
  static bool Ip(const std::string& arguments) { return std::system(("ip " + arguments + " 2>/dev/null").c_str()) == 0; }
};

// The exit code of `child` (as WaitExitCode), or -1 after killing it when it runs past `seconds`.
int WaitExitCodeWithin(pid_t child, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Two ranks on two "hosts" whose link is cut mid-run: neither may hang (the run would otherwise wait
// on a dead TCP connection until the default 30-minute collective timeout); both fail within the
// collective timeout with an error that says what was being exchanged; nothing is published. Once
// the link is back the restarted ranks resume from rank 0's last checkpoint, end with the weights
// of an uninterrupted single-process run, and the model is published exactly once.
TEST(DataParallelTrainingTest, ACutLinkFailsBothRanksWithinTheCollectiveTimeoutAndTheRunResumesOnceBack) {
  TwoHostNetwork network;
  std::string error;
  if (!network.Create(&error)) {
    GTEST_SKIP() << "needs CAP_NET_ADMIN and iproute2 (scripts/install-deps.sh) for network namespaces: " << error;
  }
  constexpr int kSteps = 40;
  constexpr double kCollectiveTimeoutSeconds = 8;
  const std::string dir = MakeTempDir("ddp_cut_link");
  const std::string job = WriteJob(dir, kSteps);
  const std::string single = JoinPath(dir, "single");
  const std::string command = BinaryDir() + "/promptintern train --config " + job + " --output " + single +
                              " > /dev/null 2> " + JoinPath(dir, "single.log");
  ASSERT_EQ(std::system(command.c_str()), 0);

  const std::string registry = JoinPath(dir, "registry");
  const std::string rank0_dir = JoinPath(dir, "rank0");
  const std::vector<std::string> arguments = {"--registry-dir", registry, "--collective-timeout",
                                              absl::StrCat(kCollectiveTimeoutSeconds)};
  const RankNetwork host0{network.netns(0), network.address(0), network.interface(0)};
  const RankNetwork host1{network.netns(1), network.address(0), network.interface(1)};
  const int port = FreePort();
  pid_t rank1 = StartRank(job, JoinPath(dir, "rank1"), 1, 2, port, arguments, JoinPath(dir, "rank1.log"), host1);
  pid_t rank0 = StartRank(job, rank0_dir, 0, 2, port, arguments, JoinPath(dir, "rank0.log"), host0);
  WaitForCheckpointStep(rank0_dir, 2);
  ASSERT_TRUE(network.SetLink(false));
  const auto cut = std::chrono::steady_clock::now();
  const int code0 = WaitExitCodeWithin(rank0, kCollectiveTimeoutSeconds + 60);
  const int code1 = WaitExitCodeWithin(rank1, kCollectiveTimeoutSeconds + 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
  for (const auto& [code, log_name] : {std::pair{code0, "rank0.log"}, std::pair{code1, "rank1.log"}}) {
    const std::string log = ReadFile(JoinPath(dir, log_name)).value_or("");
    EXPECT_EQ(code, 1) << log_name << ":\n" << log;
    // The error names the collective and the ranks it waited for.
    EXPECT_TRUE(std::regex_search(log, std::regex("promptintern train: [^\n]*(across 2 ranks|from rank 0)")))
        << log_name << ":\n" << log;
  }
  EXPECT_LT(seconds, kCollectiveTimeoutSeconds + 20) << "the ranks took " << seconds << " s to fail";
  auto saved = ReadFile(JoinPath(rank0_dir, "state/progress.json"));
  ASSERT_THAT(saved, IsOk());
  const int64_t cut_at = nlohmann::json::parse(*saved)["global_step"].get<int64_t>();
  ASSERT_LT(cut_at, kSteps) << "the run ended before the cut";
  auto opened = ModelRegistry::OpenLocal(registry);
  ASSERT_THAT(opened, IsOk());
  auto versions = (*opened)->ListVersions("ddp");
  EXPECT_TRUE(!versions.ok() || versions->versions.empty()) << "a failed run published";

  ASSERT_TRUE(network.SetLink(true));
  const int again = FreePort();
  rank1 = StartRank(job, JoinPath(dir, "rank1-again"), 1, 2, again, arguments, JoinPath(dir, "rank1-again.log"), host1);
  rank0 = StartRank(job, rank0_dir, 0, 2, again, arguments, JoinPath(dir, "rank0-again.log"), host0);
  EXPECT_EQ(WaitExitCodeWithin(rank0, 300), 0) << *ReadFile(JoinPath(dir, "rank0-again.log"));
  EXPECT_EQ(WaitExitCodeWithin(rank1, 300), 0) << *ReadFile(JoinPath(dir, "rank1-again.log"));
  std::smatch resumed;
  const std::string log = ReadFile(JoinPath(dir, "rank0-again.log")).value_or("");
  ASSERT_TRUE(std::regex_search(log, resumed, std::regex("resumed at step ([0-9]+)"))) << log;
  EXPECT_GT(std::stoll(resumed[1]), 0);
  EXPECT_LE(std::stoll(resumed[1]), cut_at);
  ExpectSameWeights(single, rank0_dir);
  versions = (*opened)->ListVersions("ddp");
  ASSERT_THAT(versions, IsOk());
  EXPECT_EQ(versions->versions.size(), 1u) << "published exactly once";
}

TEST(DataParallelTrainingTest, AGlobalBatchThatDoesNotSplitEvenlyIsRefusedByEveryRank) {
  const std::string dir = MakeTempDir("ddp_uneven");
  const std::string job = WriteJob(dir, 4);  // batch_size 4
  const int port = FreePort();
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 3; ++rank) {
    ranks.push_back(StartRank(job, JoinPath(dir, "out"), rank, 3, port, {},
                              JoinPath(dir, "rank" + std::to_string(rank) + ".log")));
  }
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(WaitExitCode(ranks[rank]), 1);
    auto log = ReadFile(JoinPath(dir, "rank" + std::to_string(rank) + ".log"));
    ASSERT_THAT(log, IsOk());
    EXPECT_NE(log->find("training.batch_size (4) must be a multiple of the number of ranks (3)"), std::string::npos)
        << *log;
  }
}

}  // namespace
}  // namespace promptintern
