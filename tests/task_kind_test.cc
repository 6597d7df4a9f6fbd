// Task kinds (core/task/task_kind.h) and the kinds under tasks/: the registry, how a job names a
// kind, and MBPP, the task added through the interface alone (its loader, template and metric),
// trained end to end with `promptintern train`.
#include "core/task/task_kind.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/run_report.h"
#include "core/pipeline/task_builder.h"
#include "core/task/task_json.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tasks/mbpp/mbpp_task.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeTempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One MBPP-shaped line.
std::string Problem(int task_id, const std::string& text, const std::string& code) {
  return absl::StrCat(R"({"text": ")", text, R"(", "code": ")", code, R"(", "task_id": )", task_id,
                      R"(, "test_list": []})", "\n");
}

TEST(TaskKindTest, EveryKindOfThisBuildIsRegisteredWithOneDefaultPerSource) {
  EXPECT_THAT(TaskKindNames(), ElementsAre("jsonl", "mbpp", "nl2bash", "synthetic-bash"));
  EXPECT_THAT(BuiltinTemplateNames(), ElementsAre("bash", "python"));
  TaskSpec synthetic;
  synthetic.source = "synthetic";
  ASSERT_THAT(ResolveTaskKind(synthetic), IsOk());
  EXPECT_EQ((*ResolveTaskKind(synthetic))->name, "synthetic-bash");
  TaskSpec jsonl;
  jsonl.source = "jsonl";
  ASSERT_THAT(ResolveTaskKind(jsonl), IsOk());
  EXPECT_EQ((*ResolveTaskKind(jsonl))->name, "nl2bash");
  for (const std::string& name : TaskKindNames()) {
    const TaskKind& kind = *FindTaskKind(name);
    if (!kind.template_name.empty()) EXPECT_NE(FindBuiltinTemplate(kind.template_name), nullptr) << name;
  }
  EXPECT_EQ(MetricOf(*FindTaskKind("jsonl")), nullptr);
  EXPECT_EQ(MetricOf(*FindTaskKind("synthetic-bash"))->name, "structure");
  EXPECT_EQ(MetricOf(*FindTaskKind("mbpp"))->name, "code_match");
}

TEST(TaskKindTest, AnUnknownKindOrAKindOfTheOtherSourceIsRefusedByName) {
  TaskSpec unknown;
  unknown.kind = "sql";
  EXPECT_THAT(ResolveTaskKind(unknown), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'sql'")));
  TaskSpec mismatched;
  mismatched.kind = "mbpp";
  mismatched.source = "synthetic";
  EXPECT_THAT(ResolveTaskKind(mismatched),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.source: 'synthetic'")));

  const std::string dir = MakeTempDir("task_kind_refusals");
  EXPECT_THAT(ParseJobSpec("task: {kind: sql}\n", dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.kind")));
  EXPECT_THAT(ParseJobSpec("task: {kind: mbpp, source: synthetic}\n", dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.source")));
}

TEST(TaskKindTest, AJobNamingMbppGetsItsSourceFieldsTemplateAndMetric) {
  const std::string dir = MakeTempDir("task_kind_mbpp_job");
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "mbpp.jsonl"), Problem(601, "Add two numbers.", "def add(a, b):\\n  return a + b")),
              IsOk());
  absl::StatusOr<JobSpec> spec = ParseJobSpec(
      "task:\n  kind: mbpp\n  jsonl: {train: mbpp.jsonl}\n"
      "promote: {alias: production, metric: code_match, max_drop: 0.1}\n",
      dir);
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->task.kind, "mbpp");
  EXPECT_EQ(spec->task.name, "mbpp");
  EXPECT_EQ(spec->task.source, "jsonl");
  EXPECT_EQ(spec->task.query_field, "text");
  EXPECT_EQ(spec->task.answer_field, "code");
  EXPECT_EQ(spec->task.template_builtin, "python");
  EXPECT_EQ(spec->promote.metric, "code_match");
  // The canonical YAML names the kind, and reads back the same.
  absl::StatusOr<JobSpec> again = ParseJobSpec(JobSpecToYaml(*spec), dir);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(JobSpecToYaml(*again), JobSpecToYaml(*spec));

  // Another task's metric is not a choice here.
  EXPECT_THAT(ParseJobSpec("task:\n  kind: mbpp\n  jsonl: {train: mbpp.jsonl}\n"
                           "promote: {alias: production, metric: structure}\n",
                           dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("code_match")));
  // The default (bash) kind has no code_match either.
  EXPECT_THAT(ParseJobSpec("promote: {alias: production, metric: code_match}\n", dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("structure")));
  // A generic JSONL task still needs its validation file.
  EXPECT_THAT(ParseJobSpec("task:\n  kind: jsonl\n  jsonl: {train: mbpp.jsonl}\n", dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task.jsonl.validation")));
}

TEST(MbppTaskTest, ProblemsSplitByTaskIdWithCleanedCodeAndTheTestSplitHeldOut) {
  const std::string path = JoinPath(MakeTempDir("mbpp_splits"), "mbpp.jsonl");
  ASSERT_THAT(WriteFileAtomic(path, Problem(3, "Prompting.", "def p():\\r\\n\\treturn 1  \\r\\n\\r\\n") +
                                        Problem(11, "Test.", "def t(): pass") +
                                        Problem(512, "Validation.", "def v(): pass") + "\n" +
                                        Problem(700, "Train.", "def f(x):\\n\\n    return x")),
              IsOk());
  absl::StatusOr<TaskSplits> splits = LoadMbppSplits(path, {"text", "code"});
  ASSERT_THAT(splits, IsOk());
  ASSERT_EQ(splits->pool.size(), 1u);
  EXPECT_EQ(splits->pool[0].answer, "def p():\n\treturn 1");
  ASSERT_EQ(splits->validation.size(), 1u);
  EXPECT_EQ(splits->validation[0].query, "Validation.");
  ASSERT_EQ(splits->train.size(), 1u);
  EXPECT_EQ(splits->train[0].answer, "def f(x):\n    return x");  // no blank line: it would end generation

  for (const auto& [line, problem] : std::vector<std::pair<std::string, std::string>>{
           {"{\"text\": \"a\", \"code\": \"b\"}\n", "task_id"},
           {"{\"text\": 1, \"code\": \"b\", \"task_id\": 601}\n", "\"text\""},
           {"{\"text\": \"a\", \"code\": \"  \\n\", \"task_id\": 601}\n", "empty"},
           {"[1, 2]\n", "not a JSON object"}}) {
    ASSERT_THAT(WriteFileAtomic(path, Problem(601, "ok", "def ok(): pass") + line), IsOk());
    EXPECT_THAT(LoadMbppSplits(path, {"text", "code"}),
                StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("line 2"), HasSubstr(problem))));
  }
}

TEST(MbppTaskTest, CodeMatchComparesPythonTokensWhateverTheSpacing) {
  EXPECT_THAT(PythonTokens("def add(a,b): return a+b"),
              ElementsAre("def", "add", "(", "a", ",", "b", ")", ":", "return", "a", "+", "b"));
  EXPECT_THAT(PythonTokens("x == 'a b' ** 2"), ElementsAre("x", "==", "'a b'", "**", "2"));
  EXPECT_EQ(CodeTokensMatch("def add(a, b): return a + b", "def add(a,b):\n    return a+b"), 1.0);
  EXPECT_EQ(CodeTokensMatch("if a == b: pass", "if a = = b: pass"), 0.0);
  EXPECT_EQ(CodeTokensMatch("print('a b')", "print('ab')"), 0.0);  // string contents count
  EXPECT_EQ(CodeTokensMatch("return x1", "return x 1"), 0.0);
  EXPECT_EQ(CodeTokensMatch("s = 'unclosed", "s = 'unclosed"), 1.0);
}

TEST(MbppTaskTest, TheSharedFileGivesTheDocumentedSplitSizes) {
  const std::string path = JoinPath(::promptintern::testing::SharedDir(), "data/mbpp/mbpp.jsonl");
  if (!PathExists(path)) GTEST_SKIP() << path << " is absent (../shared beside the checkout)";
  TaskSpec spec;
  spec.kind = "mbpp";
  spec.source = "jsonl";
  spec.train_path = path;
  absl::StatusOr<Task> task = BuildTask(spec);
  ASSERT_THAT(task, IsOk());
  EXPECT_EQ(task->kind, "mbpp");
  EXPECT_EQ(task->example_pool.size(), 10u);  // task ids 1-10
  EXPECT_EQ(task->validation.size(), 90u);    // 511-600
  EXPECT_EQ(task->train.size(), 374u);        // 601-974
  EXPECT_EQ(task->instruction, FindBuiltinTemplate("python")->instruction);
}

TEST(MbppTaskTest, TheExampleJobParses) {
  const std::string job = absl::StrCat(PROMPTINTERN_SOURCE_DIR, "/examples/jobs/mbpp/promptintern.yaml");
  if (!PathExists(absl::StrCat(PROMPTINTERN_SOURCE_DIR, "/../shared/data/mbpp/mbpp.jsonl"))) {
    GTEST_SKIP() << "../shared/data is absent beside the checkout";
  }
  absl::StatusOr<JobSpec> spec = LoadJobSpec(job);
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->task.kind, "mbpp");
  EXPECT_EQ(spec->promote.metric, "code_match");
}

// The new task runs through the CLI like any other: trained, evaluated with its own metric, and
// its final checkpoint remembers which kind it was.
TEST(MbppTaskTest, AnMbppJobTrainsThroughTheCliAndReportsItsOwnMetric) {
  const std::string data = JoinPath(::promptintern::testing::SharedDir(), "data/mbpp/mbpp.jsonl");
  if (!PathExists(data)) GTEST_SKIP() << data << " is absent (../shared beside the checkout)";
  const std::string dir = MakeTempDir("mbpp_cli");
  const std::string output = JoinPath(dir, "out");
  const std::string job_file = JoinPath(dir, "mbpp.yaml");
  ASSERT_THAT(WriteFileAtomic(job_file, absl::StrCat(R"(name: mbpp-tiny
seed: 2
threads: 1
model:
  scratch: {hidden_size: 32, intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2,
            context_length: 1024, vocab_size: 512}
task:
  kind: mbpp
  jsonl: {train: ")", data, R"(", train_limit: 40, validation_limit: 3}
schedule: {kind: explicit, keep_ratios: [1, 0], num_examples: [1, 0], step_shares: [0.5, 0.5]}
training: {steps: 4, batch_size: 2, max_length: 1024, warmup_steps: 1}
eval: {limit: 3, stage_limit: 1, max_new_tokens: 4, modes: [query_only, full_prompt]}
output: {dir: ")", output, "\"}\n")),
              IsOk());
  const std::string log = JoinPath(dir, "train.log");
  const std::string command = absl::StrCat(::promptintern::testing::BinaryDir(), "/promptintern train --config ",
                                           job_file, " > ", log, " 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << *ReadFile(log);
  EXPECT_THAT(*ReadFile(log), HasSubstr("code_match"));

  absl::StatusOr<PipelineReport> report = ReadPipelineReport(output);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->modes.size(), 2u);
  for (const ModeReport& mode : report->modes) {
    EXPECT_EQ(mode.task_metric, "code_match") << mode.mode;
    EXPECT_GE(mode.task_score, 0.0);
    EXPECT_LE(mode.task_score, 1.0);
    EXPECT_EQ(mode.requests, 3);
  }
  absl::StatusOr<std::string> examples = ReadFile(JoinPath(output, ExamplesFile("query_only")));
  ASSERT_THAT(examples, IsOk());
  EXPECT_THAT(*examples, HasSubstr("\"task_metric\":\"code_match\""));
  absl::StatusOr<std::string> task_json = ReadFile(JoinPath(JoinPath(output, kFinalDir), kTaskFile));
  ASSERT_THAT(task_json, IsOk());
  absl::StatusOr<ServedTask> served = ServedTaskFromJson(*task_json, "task.json");
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->task.kind, "mbpp");
  EXPECT_EQ(served->task.instruction, FindBuiltinTemplate("python")->instruction);
}

}  // namespace
}  // namespace promptintern
