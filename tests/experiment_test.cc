// promptintern experiment end to end, with tiny jobs: a killed experiment resumes without running a
// finished cell again; the report renders in a real browser with the expected plots; cells can be
// submitted to a real trainer service on loopback.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "core/eval/example_scores.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::testing::HasSubstr;
using testing::BinaryDir;
using testing::MakeTempDir;

// The CLI as a child process, output to `log`.
pid_t Spawn(const std::vector<std::string>& arguments, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct CellLog {
  std::vector<std::string> started;
  std::vector<std::string> finished;
};

// cells.log lines: "<time> started <id> seed N" / "<time> finished <id> in S s".
CellLog ReadCellLog(const std::string& output_dir, size_t skip_lines = 0) {
  CellLog log;
  absl::StatusOr<std::string> text = ReadFile(JoinPath(output_dir, "cells.log"));
  if (!text.ok()) return log;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    if (line_number++ < skip_lines) continue;
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    if (words.size() < 3) continue;
    if (words[1] == "started") log.started.push_back(words[2]);
    if (words[1] == "finished") log.finished.push_back(words[2]);
  }
  return log;
}

size_t CountLines(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  return text.ok() ? std::count(text->begin(), text->end(), '\n') : 0;
}

class ExperimentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_THAT(WriteFileAtomic(JoinPath(dir_, "tiny.yaml"), testing::TinyJobYaml("tiny", 12)), IsOk());
    // Two jobs (a 3-stage PromptIntern schedule and query-only fine-tuning on a token budget), the
    // first reported in two inference modes: 3 rows, 2 distinct jobs, x 2 seeds = 4 cells.
    ASSERT_THAT(WriteFileAtomic(config(), R"(
name: tiny-matrix
seeds: 2
bootstrap: {resamples: 200}
output: out
rows:
  - {name: pi, label: PromptIntern, job: tiny.yaml, mode: query_only}
  - {name: pi-full, label: PromptIntern given the full prompt, job: tiny.yaml, mode: full_prompt}
  - name: query-only
    label: Query-only fine-tuning
    job: tiny.yaml
    budget: {tokens: 4000}
    overrides: {schedule: {kind: query_only, stages: 1}, eval: {modes: [query_only]}}
tables:
  - {title: Methods, baseline: pi, rows: [pi, pi-full, query-only]}
)"), IsOk());
  }
  std::string config() const { return JoinPath(dir_, "experiment.yaml"); }
  std::string output() const { return JoinPath(dir_, "out"); }
  std::vector<std::string> Command(std::vector<std::string> extra = {}) const {
    std::vector<std::string> command = {BinaryDir() + "/promptintern", "experiment", "--config", config(),
                                        "--threads", "1"};
    command.insert(command.end(), extra.begin(), extra.end());
    return command;
  }
  int Run(const std::vector<std::string>& command, const std::string& log) { return WaitExit(Spawn(command, log)); }
  std::string dir_;
};

TEST_F(ExperimentTest, AKilledExperimentResumesWithoutRunningFinishedCellsAgain) {
  const std::string log = JoinPath(dir_, "first.log");
  const pid_t pid = Spawn(Command(), log);
  // Kill -9 as soon as one cell has finished: the matrix is mid-way, a cell may be half-trained.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (ReadCellLog(output()).finished.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_EQ(WaitExit(pid), 128 + SIGKILL);
  const CellLog first = ReadCellLog(output());
  ASSERT_GE(first.finished.size(), 1u) << *ReadFile(log);
  ASSERT_LT(first.finished.size(), 4u) << "the whole matrix finished before the kill";
  std::map<std::string, std::filesystem::file_time_type> reports;
  for (const std::string& id : first.finished) {
    reports[id] = std::filesystem::last_write_time(JoinPath(output(), "cells/" + id + "/report.json"));
  }

  const size_t lines_before = CountLines(JoinPath(output(), "cells.log"));
  ASSERT_EQ(Run(Command(), JoinPath(dir_, "second.log")), 0) << *ReadFile(JoinPath(dir_, "second.log"));
  const CellLog second = ReadCellLog(output(), lines_before);
  for (const std::string& id : second.started) {
    EXPECT_EQ(std::count(first.finished.begin(), first.finished.end(), id), 0) << "finished cell " << id << " ran again";
  }
  EXPECT_EQ(first.finished.size() + second.finished.size(), 4u);
  EXPECT_EQ(second.started.size(), 4u - first.finished.size());
  for (const auto& [id, time] : reports) {
    EXPECT_EQ(std::filesystem::last_write_time(JoinPath(output(), "cells/" + id + "/report.json")), time);
  }
  const std::string progress = *ReadFile(JoinPath(dir_, "second.log"));
  EXPECT_THAT(progress, HasSubstr("finished earlier"));
  EXPECT_THAT(progress, HasSubstr("of 4 cells done"));
  EXPECT_THAT(progress, HasSubstr("all 4 cells done"));

  // Run again: nothing left to do.
  const size_t lines_done = CountLines(JoinPath(output(), "cells.log"));
  ASSERT_EQ(Run(Command(), JoinPath(dir_, "third.log")), 0);
  EXPECT_TRUE(ReadCellLog(output(), lines_done).started.empty());

  // The report covers every row with both seeds, budgets as spent and the paired tests.
  const std::string report = *ReadFile(JoinPath(output(), "report.md"));
  EXPECT_THAT(report, HasSubstr("**4 of 4 finished**"));
  EXPECT_THAT(report, HasSubstr("| PromptIntern | 2 of 2 |"));
  EXPECT_THAT(report, HasSubstr("| Query-only fine-tuning | 2 of 2 |"));
  EXPECT_THAT(report, HasSubstr("4000 tokens"));
  EXPECT_THAT(report, HasSubstr("Paired with **PromptIntern**"));
  EXPECT_THAT(report, HasSubstr("](plots/accuracy.svg)"));
  // Every cell's report states the budget actually spent, and its per-example scores reproduce each
  // mode's corpus figures exactly.
  for (const std::string& id : ReadCellLog(output()).finished) {
    const std::string run_dir = JoinPath(output(), "cells/" + id);
    const nlohmann::json run = nlohmann::json::parse(*ReadFile(JoinPath(run_dir, "report.json")));
    EXPECT_GT(run["train_steps"].get<int64_t>(), 0);
    int64_t stage_tokens = 0;
    for (const auto& stage : run["stages"]) stage_tokens += stage["train_tokens"].get<int64_t>();
    EXPECT_EQ(run["train_tokens"].get<int64_t>(), stage_tokens);
    EXPECT_GT(stage_tokens, 0);
    if (run["stages"].size() == 1) {  // the query-only row: 4,000 tokens asked for, steps from the estimate
      EXPECT_NEAR(run["train_tokens"].get<double>(), 4000.0, 0.3 * 4000.0);
    }
    for (const auto& mode : run["modes"]) {
      const std::string file = JoinPath(run_dir, mode["examples_file"].get<std::string>());
      absl::StatusOr<std::vector<ExampleScore>> examples = ExampleScoresFromJsonl(*ReadFile(file), file);
      ASSERT_THAT(examples, IsOk());
      ASSERT_EQ(static_cast<int64_t>(examples->size()), mode["requests"].get<int64_t>());
      BleuStatistics total;
      double exact = 0.0;
      double structure = 0.0;
      for (const ExampleScore& example : *examples) {
        total += example.bleu;
        exact += example.exact;
        structure += example.task_score;
      }
      EXPECT_NEAR(total.Score(), mode["bleu"].get<double>(), 1e-9) << file;
      EXPECT_NEAR(exact / examples->size(), mode["exact_match"].get<double>(), 1e-12) << file;
      EXPECT_NEAR(structure / examples->size(), mode["structure"].get<double>(), 1e-12) << file;
    }
  }
}

TEST_F(ExperimentTest, TheReportRendersInABrowserWithEveryPlotsSeriesAndPoints) {
  const std::string report = JoinPath(dir_, "docs/RESULTS.md");
  ASSERT_EQ(Run(Command({"--report", report}), JoinPath(dir_, "run.log")), 0) << *ReadFile(JoinPath(dir_, "run.log"));
  ASSERT_TRUE(PathExists(JoinPath(dir_, "docs/results/accuracy.svg")));
  const std::string result_path = JoinPath(dir_, "render.json");
  const std::string command = std::string("/usr/bin/python3 ") + PROMPTINTERN_SOURCE_DIR +
                              "/tests/experiment/render_report.py " + report + " > " + result_path + " 2> " +
                              JoinPath(dir_, "render.err");
  const int status = std::system(command.c_str());
  const int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (exit_code == 77) GTEST_SKIP() << "headless Chromium unavailable: " << *ReadFile(JoinPath(dir_, "render.err"));
  ASSERT_EQ(exit_code, 0) << *ReadFile(JoinPath(dir_, "render.err"));
  const nlohmann::json rendered = nlohmann::json::parse(*ReadFile(result_path));
  EXPECT_EQ(rendered["tables"].get<int>(), 3);  // accuracy, budget, paired comparison
  std::map<std::string, std::vector<std::pair<std::string, int>>> plots;
  for (const auto& image : rendered["images"]) {
    EXPECT_TRUE(image["loaded"].get<bool>()) << image.dump();
    EXPECT_FALSE(image.value("parse_error", true)) << image.dump();
    EXPECT_GT(image["width"].get<int>(), 0);
    std::vector<std::pair<std::string, int>> series;
    for (const auto& s : image["series"]) series.emplace_back(s["name"].get<std::string>(), s["points"].get<int>());
    plots[image["src"].get<std::string>()] = series;
  }
  using Series = std::vector<std::pair<std::string, int>>;
  // One point per row; one curve per distinct job (the two PromptIntern rows share theirs), a point
  // per stage; one bar per row.
  EXPECT_EQ(plots["results/accuracy.svg"],
            (Series{{"PromptIntern", 1}, {"PromptIntern given the full prompt", 1}, {"Query-only fine-tuning", 1}}));
  EXPECT_EQ(plots["results/stages.svg"], (Series{{"PromptIntern", 3}, {"Query-only fine-tuning", 1}}));
  EXPECT_EQ(plots["results/loss.svg"], (Series{{"PromptIntern", 3}, {"Query-only fine-tuning", 1}}));
  EXPECT_EQ(plots["results/cost.svg"], (Series{{"$ per 1k requests", 3}}));
  EXPECT_EQ(plots.size(), 4u);
  for (const auto& image : rendered["images"]) {
    if (image["src"] != "results/accuracy.svg") continue;
    for (const auto& s : image["series"]) EXPECT_EQ(s["error_bars"].get<int>(), 1) << s.dump();
  }
}

TEST_F(ExperimentTest, CellsRunOnTheTrainerService) {
  testing::ServiceProcess trainer;
  ASSERT_TRUE(trainer.Start(BinaryDir() + "/promptintern-trainer",
                            {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir",
                             dir_ + "/trainer", "--registry-dir", dir_ + "/registry", "--threads", "1"},
                            dir_ + "/trainer.log"));
  const std::string log = JoinPath(dir_, "remote.log");
  ASSERT_EQ(Run(Command({"--server", trainer.address(), "--trainer-data-dir", dir_ + "/trainer"}), log), 0)
      << *ReadFile(log);
  const CellLog cells = ReadCellLog(output());
  ASSERT_EQ(cells.finished.size(), 4u);
  for (const std::string& id : cells.finished) {
    const nlohmann::json cell = nlohmann::json::parse(*ReadFile(JoinPath(output(), "cells/" + id + "/cell.json")));
    EXPECT_THAT(cell["where"].get<std::string>(), HasSubstr("trainer " + trainer.address()));
    EXPECT_TRUE(PathExists(JoinPath(output(), "cells/" + id + "/examples/query_only.jsonl")));
  }
  EXPECT_THAT(*ReadFile(JoinPath(output(), "report.md")), HasSubstr("| PromptIntern | 2 of 2 |"));
  // Without the trainer's data directory the per-example scores cannot be read: a clear error.
  const std::string bad_log = JoinPath(dir_, "bad.log");
  EXPECT_EQ(Run(Command({"--server", trainer.address()}), bad_log), 2);
  EXPECT_THAT(*ReadFile(bad_log), HasSubstr("--server needs --trainer-data-dir"));
}

TEST_F(ExperimentTest, AMalformedExperimentFileIsAClearErrorNamingTheField) {
  ASSERT_THAT(WriteFileAtomic(config(), "name: broken\nseeds: 2\nrows:\n  - name: a\n    job: tiny.yaml\n    budget: {steps: many}\n"), IsOk());
  const std::string log = JoinPath(dir_, "error.log");
  EXPECT_EQ(Run(Command(), log), 2);
  EXPECT_THAT(*ReadFile(log), HasSubstr("rows[0].budget.steps: expected an integer in [1, 1099511627776], got 'many' (line 6, column 21)"));
}

}  // namespace
}  // namespace promptintern
