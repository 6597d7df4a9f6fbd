#include "core/pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/checkpoint/checkpoint.h"
#include "core/task/task_json.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeTempDir;

JobSpec TinyJob(const std::string& output_dir) {
  JobSpec spec;
  spec.name = "tiny";
  spec.seed = 3;
  spec.threads = 1;
  spec.model.from_scratch = true;
  spec.model.scratch = {32, 64, 2, 4, 2, 512, 512, "", 0};
  spec.task.synthetic_train_size = 64;
  spec.task.synthetic_validation_size = 8;
  spec.task.synthetic_pool_size = 32;
  spec.task.template_builtin = "";
  spec.task.instruction = "Translate the request into a single bash command. Answer with the command only.";
  spec.schedule.kind = ScheduleKind::kExplicit;
  spec.schedule.num_stages = 3;
  spec.schedule.keep_ratios = {1.0, 0.5, 0.0};
  spec.schedule.num_examples = {2, 1, 0};
  spec.training.steps = 12;
  spec.training.batch_size = 4;
  spec.training.max_length = 384;
  spec.training.warmup_steps = 2;
  spec.training.learning_rate = 3e-3;
  spec.training.checkpoint_every = 2;
  spec.eval.limit = 4;
  spec.eval.stage_limit = 2;
  spec.eval.max_new_tokens = 8;
  spec.eval.modes = {"query_only", "full_prompt", "compressed"};
  spec.output_dir = output_dir;
  return spec;
}

std::string FinalWeights(const std::string& output_dir) {
  return *ReadFile(JoinPath(JoinPath(output_dir, "final"), kWeightsFile));
}

TEST(PipelineTest, RunsAllStagesAndWritesAServableCheckpoint) {
  const std::string dir = MakeTempDir("pipeline_e2e");
  std::vector<PipelineEvent> events;
  auto report = RunPipeline(TinyJob(dir), {[&](const PipelineEvent& e) { events.push_back(e); }, nullptr});
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->stages.size(), 3u);
  EXPECT_DOUBLE_EQ(report->stages[1].stage.keep_ratio, 0.5);
  EXPECT_EQ(report->stages[2].template_tokens, 0);
  EXPECT_GT(report->stages[0].template_tokens, report->stages[1].template_tokens);
  ASSERT_EQ(report->modes.size(), 3u);
  const ModeReport& query_only = report->modes[0];
  const ModeReport& full = report->modes[1];
  const ModeReport& compressed = report->modes[2];
  EXPECT_LT(query_only.mean_input_tokens, compressed.mean_input_tokens);
  EXPECT_LT(compressed.mean_input_tokens, full.mean_input_tokens);
  EXPECT_LT(query_only.cost_per_1k_requests_usd, full.cost_per_1k_requests_usd);

  int stage_starts = 0;
  int completed = 0;
  for (const PipelineEvent& event : events) {
    stage_starts += event.kind == PipelineEvent::Kind::kStageStarted;
    completed += event.kind == PipelineEvent::Kind::kCompleted;
  }
  EXPECT_EQ(stage_starts, 3);
  EXPECT_EQ(completed, 1);

  const std::string final_dir = JoinPath(dir, "final");
  auto model = LoadModel(final_dir);
  ASSERT_THAT(model, IsOk());
  auto served = ServedTaskFromJson(*ReadFile(JoinPath(final_dir, kTaskFile)), "task.json");
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->full_prompt_examples, 2);
  EXPECT_EQ(served->task.example_pool.size(), 32u);
  EXPECT_TRUE(PathExists(JoinPath(final_dir, kSentencePieceModelFile)));
  EXPECT_TRUE(PathExists(JoinPath(dir, kReportFile)));
  EXPECT_NE(FormatModeTable(*report).find("query_only vs full_prompt"), std::string::npos);
}

TEST(PipelineTest, StoppedAndResumedRunEndsWithTheSameWeights) {
  const std::string straight = MakeTempDir("pipeline_straight");
  ASSERT_THAT(RunPipeline(TinyJob(straight)), IsOk());

  const std::string interrupted = MakeTempDir("pipeline_interrupted");
  int polls = 0;
  auto stopped = RunPipeline(TinyJob(interrupted), {nullptr, [&] { return ++polls > 7; }});
  ASSERT_THAT(stopped, StatusIs(absl::StatusCode::kCancelled)) << stopped.status();
  auto resumed = RunPipeline(TinyJob(interrupted));
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(FinalWeights(straight), FinalWeights(interrupted));
}

TEST(PipelineTest, OutputDirectoryOfAnotherJobIsRefused) {
  const std::string dir = MakeTempDir("pipeline_other_job");
  JobSpec first = TinyJob(dir);
  first.training.steps = 3;
  first.schedule.step_shares = {};
  ASSERT_THAT(RunPipeline(first), IsOk());
  JobSpec second = TinyJob(dir);
  auto refused = RunPipeline(second);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition)) << refused.status();
  EXPECT_TRUE(PathExists(JoinPath(dir, "final")));  // nothing of the first run is harmed
}

TEST(PipelineTest, LoraOnAPretrainedBaseMergesIntoTheFinalCheckpoint) {
  const std::string base = ::promptintern::testing::Stories260KDir();
  if (base.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  const std::string dir = MakeTempDir("pipeline_lora");
  JobSpec spec = TinyJob(dir);
  spec.model.from_scratch = false;
  spec.model.base = base;
  spec.model.finetune = "lora";
  spec.model.lora_rank = 4;
  spec.training.steps = 6;
  spec.training.max_length = 400;
  spec.eval.modes = {"query_only"};
  auto report = RunPipeline(spec);
  ASSERT_THAT(report, IsOk());
  auto tuned = LoadModel(report->final_model_dir);
  auto original = LoadModel(base);
  ASSERT_TRUE(tuned.ok() && original.ok());
  // Merged: a plain checkpoint of the base's shape whose projections moved and whose norms did not.
  const auto a = (*tuned)->NamedWeights();
  const auto b = (*original)->NamedWeights();
  ASSERT_EQ(a.size(), b.size());
  bool projections_moved = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first.find("norm") != std::string::npos || a[i].first.find("embed") != std::string::npos) {
      EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
    } else if (!at::equal(a[i].second, b[i].second)) {
      projections_moved = true;
    }
  }
  EXPECT_TRUE(projections_moved);
  EXPECT_TRUE(PathExists(JoinPath(JoinPath(dir, "adapter"), "adapter_model.safetensors")));
}

TEST(PipelineTest, PretrainsOnACorpusAndTrainsFromJsonlFiles) {
  const std::string dir = MakeTempDir("pipeline_jsonl");
  const std::string corpus = JoinPath(dir, "corpus.txt");
  ASSERT_THAT(WriteFileAtomic(corpus, "ls -la /tmp\nfind . -name '*.txt'\ngrep -rn error /var/log\n"), IsOk());
  std::string train;
  for (int i = 0; i < 20; ++i) {
    train += "{\"nl\": \"show line " + std::to_string(i) + " of a.txt\", \"bash\": \"sed -n " +
             std::to_string(i) + "p a.txt\"}\n";
  }
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "train.jsonl"), train), IsOk());
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "dev.jsonl"),
                              "{\"nl\": \"show line 3 of a.txt\", \"bash\": \"sed -n 3p a.txt\"}\n"
                              "{\"nl\": \"show line 77 of a.txt\", \"bash\": \"sed -n 77p a.txt\"}\n")
                  , IsOk());
  JobSpec spec = TinyJob(JoinPath(dir, "out"));
  spec.model.scratch.pretrain_corpus = corpus;
  spec.model.scratch.pretrain_steps = 3;
  spec.task.source = "jsonl";
  spec.task.train_path = JoinPath(dir, "train.jsonl");
  spec.task.validation_path = JoinPath(dir, "dev.jsonl");
  spec.task.query_field = "nl";
  spec.task.answer_field = "bash";
  spec.training.steps = 6;
  std::vector<PipelineEvent> events;
  auto report = RunPipeline(spec, {[&](const PipelineEvent& e) { events.push_back(e); }, nullptr});
  ASSERT_THAT(report, IsOk());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().total_steps, 9);
  bool saw_pretraining = false;
  for (const PipelineEvent& event : events) saw_pretraining |= event.stage == -1;
  EXPECT_TRUE(saw_pretraining);
  // "show line 3 of a.txt" is evaluated, so it was taken out of the train set and the pool.
  auto served = ServedTaskFromJson(*ReadFile(JoinPath(report->final_model_dir, kTaskFile)), "task.json");
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->task.example_pool.size(), 19u);
  for (const Example& example : served->task.example_pool) EXPECT_NE(example.query, "show line 3 of a.txt");
}

// kill -9 at an arbitrary moment after the first checkpoint, then run the same command again.
TEST(PipelineTest, KilledTrainerProcessResumesToTheSameWeights) {
  const std::string straight = MakeTempDir("pipeline_kill_reference");
  ASSERT_THAT(RunPipeline(TinyJob(straight)), IsOk());

  const std::string dir = MakeTempDir("pipeline_killed");
  const std::string job_file = JoinPath(dir, "job_input.yaml");
  ASSERT_THAT(WriteFileAtomic(job_file, JobSpecToYaml(TinyJob(JoinPath(dir, "out")))), IsOk());
  const std::string binary = ::promptintern::testing::BinaryDir() + "/promptintern";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    freopen("/dev/null", "w", stderr);
    freopen("/dev/null", "w", stdout);
    execl(binary.c_str(), binary.c_str(), "train", "--config", job_file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::promptintern::testing::WaitForCheckpointStep(JoinPath(dir, "out"), 4);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  const std::string command = binary + " train --config " + job_file + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(FinalWeights(straight), FinalWeights(JoinPath(dir, "out")));
}

}  // namespace
}  // namespace promptintern
