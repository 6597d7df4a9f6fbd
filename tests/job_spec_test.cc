#include "core/pipeline/job_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/schedule/stage_schedule.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

// A fresh directory for one test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (fs::temp_directory_path() / absl::StrCat("job_spec_test_", ::getpid(), "_", counter++))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(absl::string_view relative) const {
    return (fs::path(path_) / std::string(relative)).lexically_normal().string();
  }
  // Writes `content` to `relative`, creating parent directories.
  std::string Write(absl::string_view relative, absl::string_view content) const {
    const std::string full = Join(relative);
    fs::create_directories(fs::path(full).parent_path());
    std::ofstream(full, std::ios::binary) << content;
    return full;
  }
  // A directory that passes as a Hugging Face checkpoint.
  std::string MakeCheckpoint(absl::string_view relative) const {
    Write(absl::StrCat(relative, "/config.json"), "{}");
    return Join(relative);
  }

 private:
  std::string path_;
};

// Field-by-field, so a failure names the field that differs.
void ExpectSpecsEqual(const JobSpec& a, const JobSpec& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.threads, b.threads);

  EXPECT_EQ(a.model.base, b.model.base);
  EXPECT_EQ(a.model.from_scratch, b.model.from_scratch);
  EXPECT_EQ(a.model.scratch.hidden_size, b.model.scratch.hidden_size);
  EXPECT_EQ(a.model.scratch.intermediate_size, b.model.scratch.intermediate_size);
  EXPECT_EQ(a.model.scratch.num_layers, b.model.scratch.num_layers);
  EXPECT_EQ(a.model.scratch.num_heads, b.model.scratch.num_heads);
  EXPECT_EQ(a.model.scratch.num_kv_heads, b.model.scratch.num_kv_heads);
  EXPECT_EQ(a.model.scratch.context_length, b.model.scratch.context_length);
  EXPECT_EQ(a.model.scratch.vocab_size, b.model.scratch.vocab_size);
  EXPECT_EQ(a.model.scratch.pretrain_corpus, b.model.scratch.pretrain_corpus);
  EXPECT_EQ(a.model.scratch.pretrain_steps, b.model.scratch.pretrain_steps);
  EXPECT_EQ(a.model.finetune, b.model.finetune);
  EXPECT_EQ(a.model.lora_rank, b.model.lora_rank);
  EXPECT_EQ(a.model.lora_alpha, b.model.lora_alpha);
  EXPECT_EQ(a.model.lora_dropout, b.model.lora_dropout);
  EXPECT_EQ(a.model.lora_target_modules, b.model.lora_target_modules);

  EXPECT_EQ(a.task.kind, b.task.kind);
  EXPECT_EQ(a.task.name, b.task.name);
  EXPECT_EQ(a.task.source, b.task.source);
  EXPECT_EQ(a.task.synthetic_seed, b.task.synthetic_seed);
  EXPECT_EQ(a.task.synthetic_train_size, b.task.synthetic_train_size);
  EXPECT_EQ(a.task.synthetic_validation_size, b.task.synthetic_validation_size);
  EXPECT_EQ(a.task.synthetic_pool_size, b.task.synthetic_pool_size);
  EXPECT_EQ(a.task.train_path, b.task.train_path);
  EXPECT_EQ(a.task.validation_path, b.task.validation_path);
  EXPECT_EQ(a.task.pool_path, b.task.pool_path);
  EXPECT_EQ(a.task.query_field, b.task.query_field);
  EXPECT_EQ(a.task.answer_field, b.task.answer_field);
  EXPECT_EQ(a.task.train_limit, b.task.train_limit);
  EXPECT_EQ(a.task.validation_limit, b.task.validation_limit);
  EXPECT_EQ(a.task.template_builtin, b.task.template_builtin);
  EXPECT_EQ(a.task.instruction, b.task.instruction);
  EXPECT_EQ(a.task.document, b.task.document);
  EXPECT_EQ(a.task.format.query_prefix, b.task.format.query_prefix);
  EXPECT_EQ(a.task.format.answer_prefix, b.task.format.answer_prefix);
  EXPECT_EQ(a.task.format.example_separator, b.task.format.example_separator);
  EXPECT_EQ(a.task.format.template_separator, b.task.format.template_separator);

  EXPECT_EQ(a.compression.method, b.compression.method);
  EXPECT_EQ(a.compression.scorer, b.compression.scorer);
  EXPECT_EQ(a.retrieval.method, b.retrieval.method);
  EXPECT_EQ(a.retrieval.k1, b.retrieval.k1);
  EXPECT_EQ(a.retrieval.b, b.retrieval.b);

  EXPECT_EQ(a.schedule.kind, b.schedule.kind);
  EXPECT_EQ(a.schedule.num_stages, b.schedule.num_stages);
  EXPECT_EQ(a.schedule.max_examples, b.schedule.max_examples);
  EXPECT_EQ(a.schedule.alpha, b.schedule.alpha);
  EXPECT_EQ(a.schedule.keep_ratios, b.schedule.keep_ratios);
  EXPECT_EQ(a.schedule.num_examples, b.schedule.num_examples);
  EXPECT_EQ(a.schedule.step_shares, b.schedule.step_shares);

  EXPECT_EQ(a.training.steps, b.training.steps);
  EXPECT_EQ(a.training.batch_size, b.training.batch_size);
  EXPECT_EQ(a.training.gradient_accumulation, b.training.gradient_accumulation);
  EXPECT_EQ(a.training.max_length, b.training.max_length);
  EXPECT_EQ(a.training.learning_rate, b.training.learning_rate);
  EXPECT_EQ(a.training.warmup_steps, b.training.warmup_steps);
  EXPECT_EQ(a.training.min_lr_ratio, b.training.min_lr_ratio);
  EXPECT_EQ(a.training.weight_decay, b.training.weight_decay);
  EXPECT_EQ(a.training.beta1, b.training.beta1);
  EXPECT_EQ(a.training.beta2, b.training.beta2);
  EXPECT_EQ(a.training.max_grad_norm, b.training.max_grad_norm);
  EXPECT_EQ(a.training.checkpoint_every, b.training.checkpoint_every);

  EXPECT_EQ(a.promote.enabled, b.promote.enabled);
  EXPECT_EQ(a.promote.alias, b.promote.alias);
  EXPECT_EQ(a.promote.reference, b.promote.reference);
  EXPECT_EQ(a.promote.metric, b.promote.metric);
  EXPECT_EQ(a.promote.max_drop, b.promote.max_drop);

  EXPECT_EQ(a.eval.limit, b.eval.limit);
  EXPECT_EQ(a.eval.stage_limit, b.eval.stage_limit);
  EXPECT_EQ(a.eval.max_new_tokens, b.eval.max_new_tokens);
  EXPECT_EQ(a.eval.modes, b.eval.modes);
  EXPECT_EQ(a.eval.compressed_keep_ratio, b.eval.compressed_keep_ratio);
  EXPECT_EQ(a.eval.input_price_per_million, b.eval.input_price_per_million);
  EXPECT_EQ(a.eval.output_price_per_million, b.eval.output_price_per_million);

  EXPECT_EQ(a.output_dir, b.output_dir);
}

// Serializes, parses back and expects the same spec; also checks the YAML is a fixed point.
void ExpectRoundTrip(const JobSpec& spec) {
  const std::string yaml = JobSpecToYaml(spec);
  absl::StatusOr<JobSpec> parsed = ParseJobSpec(yaml, "/");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << yaml;
  ExpectSpecsEqual(spec, *parsed);
  EXPECT_EQ(JobSpecToYaml(*parsed), yaml);
}

// The layout from the design notes, with one choice made wherever it offers alternatives
// (scratch rather than base, the builtin template rather than inline text).
constexpr char kLayoutExample[] = R"yaml(
name: demo
seed: 1
threads: 0
model:
  scratch:
    hidden_size: 128
    intermediate_size: 344
    num_layers: 4
    num_heads: 4
    num_kv_heads: 2
    context_length: 2048
    vocab_size: 1024
    pretrain_corpus: path/to/text.txt
    pretrain_steps: 0
  finetune: full
  lora: {rank: 8, alpha: 16, dropout: 0.0, target_modules: [q_proj, v_proj]}
task:
  name: synthetic-bash
  source: synthetic
  synthetic: {seed: 1, train_size: 2000, validation_size: 200, pool_size: 500}
  jsonl: {train: path, validation: path, pool: path, query_field: nl, answer_field: bash, train_limit: 0, validation_limit: 0}
  template:
    builtin: bash
  format: {query_prefix: "Input: ", answer_prefix: "\nOutput:", example_separator: "\n\n", template_separator: "\n\n"}
compression: {method: self_information, scorer: model}
retrieval: {method: bm25, k1: 1.5, b: 0.75}
schedule:
  kind: explicit
  stages: 4
  max_examples: 5
  alpha: 3.0
  keep_ratios: [1, 0.6, 0.3, 0]
  num_examples: [5, 3, 1, 0]
  step_shares: [0.25, 0.25, 0.25, 0.25]
training: {steps: 400, batch_size: 8, gradient_accumulation: 1, max_length: 2048, learning_rate: 1e-3, warmup_steps: 20, min_lr_ratio: 0.1, weight_decay: 0.0, beta1: 0.9, beta2: 0.999, max_grad_norm: 1.0, checkpoint_every: 0}
eval: {limit: 100, stage_limit: 32, max_new_tokens: 64, modes: [query_only, full_prompt], compressed_keep_ratio: 0.3, prices: {input_per_million: 0.5, output_per_million: 1.5}}
output: {dir: runs/demo}
)yaml";

TEST(JobSpecTest, LayoutExampleParsesWithExpectedValues) {
  TempDir dir;
  dir.Write("path/to/text.txt", "one document\nanother\n");
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kLayoutExample, dir.path());
  ASSERT_THAT(spec, IsOk());

  EXPECT_EQ(spec->name, "demo");
  EXPECT_EQ(spec->seed, 1u);
  EXPECT_EQ(spec->threads, 0);
  EXPECT_TRUE(spec->model.from_scratch);
  EXPECT_EQ(spec->model.base, "");
  EXPECT_EQ(spec->model.scratch.hidden_size, 128);
  EXPECT_EQ(spec->model.scratch.intermediate_size, 344);
  EXPECT_EQ(spec->model.scratch.num_layers, 4);
  EXPECT_EQ(spec->model.scratch.num_heads, 4);
  EXPECT_EQ(spec->model.scratch.num_kv_heads, 2);
  EXPECT_EQ(spec->model.scratch.context_length, 2048);
  EXPECT_EQ(spec->model.scratch.vocab_size, 1024);
  EXPECT_EQ(spec->model.scratch.pretrain_corpus, dir.Join("path/to/text.txt"));
  EXPECT_EQ(spec->model.finetune, "full");
  EXPECT_EQ(spec->model.lora_rank, 8);
  EXPECT_EQ(spec->model.lora_alpha, 16.0);
  EXPECT_EQ(spec->model.lora_target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));

  EXPECT_EQ(spec->task.source, "synthetic");
  EXPECT_EQ(spec->task.synthetic_train_size, 2000);
  EXPECT_EQ(spec->task.synthetic_validation_size, 200);
  EXPECT_EQ(spec->task.synthetic_pool_size, 500);
  // The inactive jsonl section is kept (resolved) but its files need not exist.
  EXPECT_EQ(spec->task.train_path, dir.Join("path"));
  EXPECT_EQ(spec->task.query_field, "nl");
  EXPECT_EQ(spec->task.answer_field, "bash");
  EXPECT_EQ(spec->task.template_builtin, "bash");
  EXPECT_EQ(spec->task.instruction, "");
  EXPECT_EQ(spec->task.format.query_prefix, "Input: ");
  EXPECT_EQ(spec->task.format.answer_prefix, "\nOutput:");
  EXPECT_EQ(spec->task.format.example_separator, "\n\n");

  EXPECT_EQ(spec->compression.method, "self_information");
  EXPECT_EQ(spec->compression.scorer, "model");
  EXPECT_EQ(spec->retrieval.k1, 1.5);
  EXPECT_EQ(spec->retrieval.b, 0.75);

  EXPECT_EQ(spec->schedule.kind, ScheduleKind::kExplicit);
  EXPECT_EQ(spec->schedule.num_stages, 4);
  EXPECT_EQ(spec->schedule.keep_ratios, (std::vector<double>{1, 0.6, 0.3, 0}));
  EXPECT_EQ(spec->schedule.num_examples, (std::vector<int>{5, 3, 1, 0}));
  EXPECT_EQ(spec->schedule.step_shares, (std::vector<double>{0.25, 0.25, 0.25, 0.25}));

  EXPECT_EQ(spec->training.steps, 400);
  EXPECT_EQ(spec->training.learning_rate, 1e-3);
  EXPECT_EQ(spec->training.beta2, 0.999);
  EXPECT_EQ(spec->eval.modes, (std::vector<std::string>{"query_only", "full_prompt"}));
  EXPECT_EQ(spec->eval.output_price_per_million, 1.5);
  EXPECT_EQ(spec->output_dir, dir.Join("runs/demo"));
}

TEST(JobSpecTest, MinimalFileTakesEveryDefault) {
  TempDir dir;
  absl::StatusOr<JobSpec> spec = ParseJobSpec("name: minimal\n", dir.path());
  ASSERT_THAT(spec, IsOk());

  JobSpec expected;
  expected.name = "minimal";
  expected.model.from_scratch = true;  // neither base nor scratch given
  expected.output_dir = dir.Join("runs/job");
  // What the default task kind of source "synthetic" (tasks/bash) fills in.
  expected.task.kind = "synthetic-bash";
  expected.task.name = "synthetic-bash";
  expected.task.query_field = "query";
  expected.task.answer_field = "answer";
  expected.task.template_builtin = "bash";
  ExpectSpecsEqual(*spec, expected);
}

TEST(JobSpecTest, NullSectionsMeanDefaults) {
  TempDir dir;
  absl::StatusOr<JobSpec> spec = ParseJobSpec("model:\n  scratch:\ntraining:\neval:\n", dir.path());
  ASSERT_THAT(spec, IsOk());
  EXPECT_TRUE(spec->model.from_scratch);
  EXPECT_EQ(spec->name, JobSpec().name);
  EXPECT_EQ(spec->training.steps, TrainingSpec().steps);
}

struct MalformedCase {
  std::string label;
  std::string yaml;
  std::vector<std::string> expected_parts;  // each must appear in the error message
};

class MalformedJobTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedJobTest, FailsNamingTheField) {
  TempDir dir;
  dir.Write("notes.txt", "text");
  dir.Write("data/train.jsonl", "{}\n");
  dir.Write("emptydir/.keep", "");
  const MalformedCase& test_case = GetParam();
  absl::StatusOr<JobSpec> spec = ParseJobSpec(test_case.yaml, dir.path());
  ASSERT_FALSE(spec.ok()) << "parsed although malformed:\n" << test_case.yaml;
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument)) << spec.status();
  for (const std::string& part : test_case.expected_parts) {
    EXPECT_NE(spec.status().message().find(part), absl::string_view::npos)
        << "missing \"" << part << "\" in: " << spec.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedJobTest,
    ::testing::Values(
        MalformedCase{"SyntaxErrorHasLine",
                      "name: demo\ntraining:\n  steps: 5\n   batch_size: 3\n",
                      {"malformed YAML", "line 4"}},
        MalformedCase{
            "UnclosedFlowMap", "name: demo\ntraining: {steps: 5\n", {"malformed YAML", "line 3"}},
        MalformedCase{"EmptyDocument", "", {"empty"}},
        MalformedCase{"CommentsOnly", "# nothing here\n", {"empty"}},
        MalformedCase{"TopLevelList", "- name: demo\n", {"mapping", "a list"}},
        MalformedCase{"TopLevelScalar", "demo\n", {"mapping", "'demo'"}},
        MalformedCase{"TwoDocuments", "name: a\n---\nname: b\n", {"2 YAML documents"}},
        MalformedCase{"UnknownKeyWithSuggestion",
                      "training:\n  stpes: 10\n",
                      {"unknown field 'training.stpes'", "did you mean 'steps'?", "line 2"}},
        MalformedCase{
            "UnknownTopLevelKey", "nmae: demo\n", {"unknown field 'nmae'", "did you mean 'name'?"}},
        MalformedCase{"UnknownKeyFarFromAnything",
                      "training:\n  zzzzzzzz: 1\n",
                      {"unknown field 'training.zzzzzzzz'"}},
        MalformedCase{"UnknownNestedKey",
                      "eval:\n  prices: {input: 1}\n",
                      {"unknown field 'eval.prices.input'"}},
        MalformedCase{"DuplicateKey", "name: a\nname: b\n", {"name: given more than once"}},
        MalformedCase{
            "WrongTypeBatchSize",
            "training:\n  batch_size: eight\n",
            {"training.batch_size: expected a positive integer, got 'eight'", "line 2, column 15"}},
        MalformedCase{"ZeroSteps",
                      "training: {steps: 0}\n",
                      {"training.steps: expected a positive integer, got '0'"}},
        MalformedCase{"FractionalSteps", "training: {steps: 1.5}\n", {"training.steps"}},
        MalformedCase{"SectionIsScalar", "training: 5\n", {"training: expected a mapping", "'5'"}},
        MalformedCase{"NegativeLearningRate",
                      "training: {learning_rate: -1e-3}\n",
                      {"training.learning_rate: expected a positive number"}},
        MalformedCase{"InfiniteLearningRate",
                      "training: {learning_rate: .inf}\n",
                      {"training.learning_rate"}},
        MalformedCase{"BetaOfOne",
                      "training: {beta2: 1.0}\n",
                      {"training.beta2: expected a number in [0, 1)"}},
        MalformedCase{"WarmupNotBelowSteps",
                      "training: {steps: 10, warmup_steps: 10}\n",
                      {"training.warmup_steps", "less than training.steps"}},
        MalformedCase{"NegativeCheckpointEvery",
                      "training: {checkpoint_every: -1}\n",
                      {"training.checkpoint_every"}},
        MalformedCase{"MaxLengthTooSmall",
                      "training: {max_length: 8}\n",
                      {"training.max_length: expected an integer >= 16"}},
        MalformedCase{"MaxLengthOverContext",
                      "model:\n  scratch: {context_length: 512}\ntraining: {max_length: 1024}\n",
                      {"training.max_length", "context_length (512)"}},
        MalformedCase{"BaseAndScratch",
                      "model:\n  base: ckpt\n  scratch: {hidden_size: 64}\n",
                      {"model.scratch", "mutually exclusive"}},
        MalformedCase{"BaseWithoutConfig",
                      "model:\n  base: emptydir\n",
                      {"model.base", "config.json", "emptydir"}},
        MalformedCase{
            "BaseMissing", "model:\n  base: nowhere\n", {"model.base", "not found", "nowhere"}},
        MalformedCase{"HeadsDoNotDivideHidden",
                      "model:\n  scratch: {hidden_size: 130}\n",
                      {"model.scratch.num_heads", "does not divide"}},
        MalformedCase{"KvHeadsDoNotDivideHeads",
                      "model:\n  scratch: {num_kv_heads: 3}\n",
                      {"model.scratch.num_kv_heads", "does not divide"}},
        MalformedCase{"OddHeadSize",
                      "model:\n  scratch: {hidden_size: 36, num_heads: 4, num_kv_heads: 2}\n",
                      {"model.scratch.num_heads", "even"}},
        MalformedCase{"VocabTooSmall",
                      "model:\n  scratch: {vocab_size: 256}\n",
                      {"model.scratch.vocab_size", ">= 300"}},
        MalformedCase{"BadFinetune",
                      "model: {finetune: lroa}\n",
                      {"model.finetune", "full, lora", "did you mean 'lora'?"}},
        MalformedCase{"DropoutOfOne", "model:\n  lora: {dropout: 1}\n", {"model.lora.dropout"}},
        MalformedCase{"UnknownLoraModule",
                      "model:\n  lora: {target_modules: [q_proj, qkv]}\n",
                      {"model.lora.target_modules[1]", "'qkv'"}},
        MalformedCase{"EmptyLoraModules",
                      "model:\n  lora: {target_modules: []}\n",
                      {"model.lora.target_modules", "at least one"}},
        MalformedCase{"JsonlWithoutValidation",
                      "task:\n  source: jsonl\n  jsonl: {train: data/train.jsonl}\n",
                      {"task.jsonl.validation", "required"}},
        MalformedCase{"JsonlMissingFile",
                      "task:\n  source: jsonl\n  jsonl: {train: data/train.jsonl, "
                      "validation: data/missing.jsonl}\n",
                      {"task.jsonl.validation", "file not found", "data/missing.jsonl"}},
        MalformedCase{"SameQueryAndAnswerField",
                      "task:\n  jsonl: {query_field: q, answer_field: q}\n",
                      {"task.jsonl.answer_field"}},
        MalformedCase{"BadSource", "task: {source: csv}\n", {"task.source", "synthetic, jsonl"}},
        MalformedCase{"InstructionTextAndFile",
                      "task:\n  template: {instruction: hi, instruction_file: notes.txt}\n",
                      {"task.template.instruction_file", "mutually exclusive"}},
        MalformedCase{"BuiltinWithText",
                      "task:\n  template: {builtin: bash, document: hi}\n",
                      {"task.template.builtin", "cannot be combined"}},
        MalformedCase{"MissingDocumentFile",
                      "task:\n  template: {document_file: nope.txt}\n",
                      {"task.template.document_file", "file not found", "nope.txt"}},
        MalformedCase{"BadBuiltin",
                      "task:\n  template: {builtin: sql}\n",
                      {"task.template.builtin", "bash", "none"}},
        MalformedCase{"FormatNull",
                      "task:\n  format:\n    query_prefix:\n",
                      {"task.format.query_prefix", "got nothing"}},
        MalformedCase{"BadCompressionMethod",
                      "compression: {method: gzip}\n",
                      {"compression.method", "self_information, random, none"}},
        MalformedCase{"ScorerWithoutConfig",
                      "compression: {scorer: emptydir}\n",
                      {"compression.scorer", "config.json"}},
        MalformedCase{"BadRetrieval", "retrieval: {method: dense}\n", {"retrieval.method", "bm25"}},
        MalformedCase{"BadScheduleKind",
                      "schedule: {kind: lineer}\n",
                      {"schedule.kind", "did you mean 'linear'?"}},
        MalformedCase{"IncreasingKeepRatios",
                      "schedule: {kind: explicit, keep_ratios: [1, 0.5, 0.7, 0]}\n",
                      {"schedule.keep_ratios[2]", "line 1"}},
        MalformedCase{"ListLengthsDiffer",
                      "schedule: {keep_ratios: [1, 0], num_examples: [5, 3, 0]}\n",
                      {"schedule.num_examples"}},
        MalformedCase{"StagesMismatchLists",
                      "schedule: {stages: 3, keep_ratios: [1, 0], num_examples: [5, 0]}\n",
                      {"schedule.stages:", "does not match"}},
        MalformedCase{"ListsWithNonExplicitKind",
                      "schedule: {kind: linear, keep_ratios: [1, 0]}\n",
                      {"schedule.keep_ratios", "only used when schedule.kind is explicit"}},
        MalformedCase{"NonNumericKeepRatio",
                      "schedule: {keep_ratios: [1, half, 0], num_examples: [2, 1, 0]}\n",
                      {"schedule.keep_ratios[1]: expected a finite number, got 'half'"}},
        MalformedCase{"SharesDoNotSumToOne",
                      "schedule: {kind: linear, step_shares: [0.5, 0.4]}\n",
                      {"schedule.step_shares"}},
        MalformedCase{"ScheduleListIsScalar",
                      "schedule: {keep_ratios: 1}\n",
                      {"schedule.keep_ratios: expected a list"}},
        MalformedCase{"BadMode",
                      "eval: {modes: [query_only, zero_shot]}\n",
                      {"eval.modes[1]", "query_only, full_prompt, compressed"}},
        MalformedCase{"DuplicateMode",
                      "eval: {modes: [full_prompt, full_prompt]}\n",
                      {"eval.modes[1]", "listed twice"}},
        MalformedCase{"EmptyModes", "eval: {modes: []}\n", {"eval.modes", "at least one"}},
        MalformedCase{"NegativeEvalLimit", "eval: {limit: -1}\n", {"eval.limit"}},
        MalformedCase{"NegativePrice",
                      "eval:\n  prices: {input_per_million: -0.5}\n",
                      {"eval.prices.input_per_million"}},
        MalformedCase{
            "NameWithSlash", "name: runs/demo\n", {"name:", "'runs/demo'", "letters, digits"}},
        MalformedCase{"NameDotDot", "name: ..\n", {"name:"}},
        MalformedCase{"NameTooLong",
                      absl::StrCat("name: ", std::string(65, 'a'), "\n"),
                      {"name:", "65 characters"}},
        MalformedCase{"EmptyName", "name: \"\"\n", {"name: must not be empty"}},
        MalformedCase{
            "NegativeSeed", "seed: -3\n", {"seed: expected a non-negative integer, got '-3'"}},
        MalformedCase{"NegativeThreads", "threads: -1\n", {"threads:"}},
        MalformedCase{
            "OutputDirIsFile", "output: {dir: notes.txt}\n", {"output.dir", "not a directory"}},
        MalformedCase{"PromoteWithoutAlias", "promote: {max_drop: 1}\n", {"promote.alias", "required"}},
        MalformedCase{"PromoteBadAlias", "promote: {alias: \"42\"}\n", {"promote.alias", "all digits"}},
        MalformedCase{"PromoteBaseFromScratch",
                      "promote: {alias: production, reference: base}\n",
                      {"promote.reference", "from scratch", "line 1"}},
        MalformedCase{"PromoteReferenceNotAVersion",
                      "promote: {alias: production, reference: bash}\n",
                      {"promote.reference", "NAME@VERSION", "\"bash\""}},
        MalformedCase{"PromoteUnknownMetric",
                      "promote: {alias: production, metric: rouge}\n",
                      {"promote.metric", "rouge"}},
        MalformedCase{"PromoteMaxDropNotANumber",
                      "promote: {alias: production, max_drop: lots}\n",
                      {"promote.max_drop"}},
        MalformedCase{"PromoteUnknownField",
                      "promote: {alias: production, maxdrop: 1}\n",
                      {"promote.maxdrop"}},
        MalformedCase{"MissingPretrainCorpus",
                      "model:\n  scratch: {pretrain_corpus: corpus.txt}\n",
                      {"model.scratch.pretrain_corpus", "corpus.txt"}}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.label; });

TEST(JobSpecTest, OversizedDocumentIsRejected) {
  const std::string huge = absl::StrCat("name: demo\n# ", std::string(size_t{1} << 20, 'x'), "\n");
  absl::StatusOr<JobSpec> spec = ParseJobSpec(huge, "/");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("1 MiB"), absl::string_view::npos) << spec.status();
}

TEST(JobSpecTest, RelativePathsResolveAgainstBaseDir) {
  TempDir dir;
  dir.MakeCheckpoint("models/base");
  dir.MakeCheckpoint("models/scorer");
  dir.Write("data/train.jsonl", "{}\n");
  dir.Write("data/dev.jsonl", "{}\n");
  dir.Write("data/pool.jsonl", "{}\n");
  dir.Write("prompts/instruction.txt", "Translate to bash.\n");
  const std::string absolute_document = dir.Write("prompts/document.md", "# ls\nlists files\n");

  const std::string yaml = absl::StrCat(R"yaml(
name: relative
model:
  base: models/base
  finetune: lora
task:
  source: jsonl
  jsonl:
    train: ./data/train.jsonl
    validation: data/../data/dev.jsonl
    pool: data/pool.jsonl
  template:
    instruction_file: prompts/instruction.txt
    document_file: )yaml",
                                        absolute_document, R"yaml(
compression: {scorer: models/scorer}
output: {dir: out/run1}
)yaml");
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml, dir.path());
  ASSERT_THAT(spec, IsOk());
  EXPECT_FALSE(spec->model.from_scratch);
  EXPECT_EQ(spec->model.base, dir.Join("models/base"));
  EXPECT_EQ(spec->model.finetune, "lora");
  EXPECT_EQ(spec->task.train_path, dir.Join("data/train.jsonl"));
  EXPECT_EQ(spec->task.validation_path, dir.Join("data/dev.jsonl"));
  EXPECT_EQ(spec->task.pool_path, dir.Join("data/pool.jsonl"));
  EXPECT_EQ(spec->task.template_builtin, "");
  EXPECT_EQ(spec->task.instruction, "Translate to bash.\n");
  EXPECT_EQ(spec->task.document, "# ls\nlists files\n");
  EXPECT_EQ(spec->compression.scorer, dir.Join("models/scorer"));
  EXPECT_EQ(spec->output_dir, dir.Join("out/run1"));
  // The output directory is created later by the run, not required here.
  EXPECT_FALSE(fs::exists(spec->output_dir));

  ExpectRoundTrip(*spec);
}

TEST(JobSpecTest, LoadJobSpecResolvesAgainstTheFilesDirectory) {
  TempDir dir;
  dir.Write("jobs/data/train.jsonl", "{}\n");
  dir.Write("jobs/data/dev.jsonl", "{}\n");
  const std::string job_path =
      dir.Write("jobs/job.yaml",
                "name: loaded\ntask:\n  source: jsonl\n  jsonl: {train: data/train.jsonl, "
                "validation: data/dev.jsonl}\n");
  absl::StatusOr<JobSpec> spec = LoadJobSpec(job_path);
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->task.train_path, dir.Join("jobs/data/train.jsonl"));
  EXPECT_EQ(spec->output_dir, dir.Join("jobs/runs/job"));
}

TEST(JobSpecTest, LoadJobSpecPrefixesErrorsWithThePath) {
  TempDir dir;
  const std::string job_path = dir.Write("bad.yaml", "training: {batch_size: eight}\n");
  absl::StatusOr<JobSpec> spec = LoadJobSpec(job_path);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find(job_path), absl::string_view::npos);
  EXPECT_NE(spec.status().message().find("training.batch_size"), absl::string_view::npos);

  EXPECT_FALSE(LoadJobSpec(dir.Join("missing.yaml")).ok());
}

TEST(JobSpecTest, TemplateVariants) {
  TempDir dir;
  absl::StatusOr<JobSpec> none = ParseJobSpec("task:\n  template: {builtin: none}\n", dir.path());
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->task.template_builtin, "none");
  EXPECT_EQ(none->task.instruction, "");

  absl::StatusOr<JobSpec> inline_text = ParseJobSpec(
      "task:\n  template:\n    instruction: |\n      Answer with one command.\n", dir.path());
  ASSERT_THAT(inline_text, IsOk());
  EXPECT_EQ(inline_text->task.template_builtin, "");
  EXPECT_EQ(inline_text->task.instruction, "Answer with one command.\n");
  EXPECT_EQ(inline_text->task.document, "");
  ExpectRoundTrip(*inline_text);
}

TEST(JobSpecTest, ExplicitStagesDefaultToListLength) {
  TempDir dir;
  absl::StatusOr<JobSpec> spec =
      ParseJobSpec("schedule: {keep_ratios: [1, 0.5, 0], num_examples: [4, 2, 0]}\n", dir.path());
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->schedule.num_stages, 3);
  ASSERT_THAT(BuildStages(spec->schedule, spec->training.steps), IsOk());
}

TEST(JobSpecTest, NonExplicitScheduleRoundTrips) {
  TempDir dir;
  absl::StatusOr<JobSpec> spec = ParseJobSpec(
      "schedule: {kind: inverse_exponential, max_examples: 8, alpha: 2.5, "
      "step_shares: [0.1, 0.2, 0.3, 0.4]}\n",
      dir.path());
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->schedule.kind, ScheduleKind::kInverseExponential);
  EXPECT_EQ(spec->schedule.num_stages, 4);  // taken from step_shares
  EXPECT_EQ(spec->schedule.max_examples, 8);
  ExpectRoundTrip(*spec);
}

TEST(JobSpecTest, LayoutExampleRoundTrips) {
  TempDir dir;
  dir.Write("path/to/text.txt", "corpus\n");
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kLayoutExample, dir.path());
  ASSERT_THAT(spec, IsOk());
  ExpectRoundTrip(*spec);
}

TEST(JobSpecTest, PromoteSectionParsesAndRoundTrips) {
  TempDir dir;
  absl::StatusOr<JobSpec> absent = ParseJobSpec("name: x\n", dir.path());
  ASSERT_THAT(absent, IsOk());
  EXPECT_FALSE(absent->promote.enabled);
  for (const std::string& reference : {"full_prompt", "bash@3", "bash@production"}) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(
        absl::StrCat("promote: {alias: production, reference: \"", reference, "\", metric: bleu, max_drop: -2.5}\n"),
        dir.path());
    ASSERT_THAT(spec, IsOk());
    EXPECT_TRUE(spec->promote.enabled);
    EXPECT_EQ(spec->promote.alias, "production");
    EXPECT_EQ(spec->promote.reference, reference);
    EXPECT_EQ(spec->promote.metric, "bleu");
    EXPECT_EQ(spec->promote.max_drop, -2.5);
    ExpectRoundTrip(*spec);
  }
  absl::StatusOr<JobSpec> defaults = ParseJobSpec("promote: {alias: staging}\n", dir.path());
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->promote.reference, "full_prompt");
  EXPECT_EQ(defaults->promote.metric, "exact_match");
  EXPECT_EQ(defaults->promote.max_drop, 0.0);
  const std::string base = dir.MakeCheckpoint("base");
  absl::StatusOr<JobSpec> on_base =
      ParseJobSpec(absl::StrCat("model: {base: ", base, "}\npromote: {alias: production, reference: base}\n"),
                   dir.path());
  ASSERT_THAT(on_base, IsOk());
  EXPECT_EQ(on_base->promote.reference, "base");
}

TEST(JobSpecTest, AwkwardValuesRoundTrip) {
  TempDir dir;
  absl::StatusOr<JobSpec> parsed = ParseJobSpec("name: awkward\n", dir.path());
  ASSERT_THAT(parsed, IsOk());
  JobSpec spec = *parsed;
  spec.seed = 18446744073709551615u;  // the largest seed
  spec.task.name = "null";            // a word YAML would otherwise read as null
  spec.task.template_builtin = "";
  spec.task.instruction = "  leading spaces, \"quotes\", a \\ and a tab\there\n\xC3\xA9t\xC3\xA9\n";
  spec.task.document = "";
  spec.task.format.query_prefix = "";
  spec.task.format.answer_prefix = ": #not a comment";
  spec.training.learning_rate = 1.0 / 3.0;
  spec.training.min_lr_ratio = 0.1 + 0.2;  // not exactly 0.3
  spec.eval.input_price_per_million = 1e-9;
  spec.retrieval.k1 = 0;
  ExpectRoundTrip(spec);
}

TEST(JobSpecTest, DemoJobParses) {
#ifndef PROMPTINTERN_SOURCE_DIR
  GTEST_SKIP() << "PROMPTINTERN_SOURCE_DIR is not defined";
#else
  const std::string demo = std::string(PROMPTINTERN_SOURCE_DIR) + "/examples/jobs/demo.yaml";
  absl::StatusOr<JobSpec> spec = LoadJobSpec(demo);
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->name, "demo");
  EXPECT_EQ(spec->task.source, "synthetic");
  EXPECT_TRUE(spec->model.from_scratch);
  // The demo's tunables may change; what `make demo` relies on may not.
  EXPECT_LE(spec->training.max_length, spec->model.scratch.context_length);
  EXPECT_FALSE(spec->task.instruction.empty());
  EXPECT_FALSE(spec->task.document.empty());
  EXPECT_EQ(spec->eval.modes,
            (std::vector<std::string>{"query_only", "full_prompt", "compressed"}));
  auto stages = BuildStages(spec->schedule, spec->training.steps);
  ASSERT_THAT(stages, IsOk());
  EXPECT_EQ(stages->back().keep_ratio, 0.0);
  EXPECT_EQ(stages->back().num_examples, 0);
  EXPECT_EQ(fs::path(spec->output_dir).filename(), "demo");
  ExpectRoundTrip(*spec);
#endif
}

TEST(JobSpecTest, Nl2BashResultJobsParse) {
#ifndef PROMPTINTERN_SOURCE_DIR
  GTEST_SKIP() << "PROMPTINTERN_SOURCE_DIR is not defined";
#else
  const fs::path jobs = fs::path(PROMPTINTERN_SOURCE_DIR) / "examples/jobs/nl2bash";
  if (!fs::exists(fs::path(PROMPTINTERN_SOURCE_DIR) / "../shared/data/nl2bash/dev.jsonl")) {
    GTEST_SKIP() << "../shared/data is absent";
  }
  int parsed = 0;
  for (const auto& entry : fs::directory_iterator(jobs)) {
    absl::StatusOr<JobSpec> spec = LoadJobSpec(entry.path().string());
    ASSERT_THAT(spec, IsOk());
    EXPECT_EQ(spec->task.source, "jsonl");
    ++parsed;
  }
  EXPECT_EQ(parsed, 7);
#endif
}

// What a small machine can do: every bound below is checked against it.
JobSpecOptions SmallMachine() {
  JobSpecOptions options;
  options.machine.cores = 4;
  options.machine.memory_bytes = uint64_t{8} << 30;
  return options;
}

// Each value passes the field's type check, and asks for more than any machine (or this one) has.
TEST(JobSpecTest, ValuesBeyondTheMachineAreRefusedNamingTheField) {
  TempDir dir;
  struct Case {
    std::string yaml;
    std::string field;
    std::string detail;
  };
  const Case cases[] = {
      {"threads: 100000\n", "threads:", "exceeds the 4 cores"},
      {"threads: 5\n", "threads:", "use at most 4"},
      {"task:\n  synthetic: {train_size: 1000000000000}\n", "task.synthetic.train_size", "exceeds the limit of 10000000"},
      {"task:\n  synthetic: {train_size: 9000000, pool_size: 9000000}\n", "task.synthetic.train_size",
       "of memory; this machine has 8.0 GiB"},
      {"model:\n  scratch: {hidden_size: 65536, intermediate_size: 65536, num_heads: 64, num_kv_heads: 64}\n",
       "model.scratch", "parameters"},
      {"model:\n  scratch: {hidden_size: 100000000}\n", "model.scratch.hidden_size", "exceeds the limit of 262144"},
      {"model:\n  scratch: {num_layers: 1000000}\n", "model.scratch.num_layers", "exceeds the limit of 4096"},
      {"model:\n  scratch: {vocab_size: 100000000}\n", "model.scratch.vocab_size", "exceeds the limit of 1048576"},
      {"training: {batch_size: 10000000}\n", "training.batch_size", "exceeds the limit of 65536"},
      {"training: {steps: 100000000000}\n", "training.steps", "exceeds the limit of 100000000"},
      {"model:\n  scratch: {pretrain_steps: 100000000000}\n", "model.scratch.pretrain_steps", "exceeds the limit of 100000000"},
      {"eval: {max_new_tokens: 10000000}\n", "eval.max_new_tokens", "exceeds the limit of 65536"},
      {"schedule: {kind: linear, stages: 100000}\n", "schedule.stages", "exceeds the limit of 1000"},
      {"schedule: {kind: linear, max_examples: 100000}\n", "schedule.max_examples", "exceeds the limit of 1000"},
      {"model:\n  lora: {rank: 10000000}\n", "model.lora.rank", "exceeds the limit of 65536"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(c.yaml, dir.path(), SmallMachine());
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument)) << c.yaml;
    const std::string message(spec.status().message());
    EXPECT_EQ(message.rfind(c.field, 0), 0u) << c.yaml << " -> " << message;
    EXPECT_NE(message.find(c.detail), std::string::npos) << c.yaml << " -> " << message;
  }
  // The defaults and the tiny test job fit.
  EXPECT_THAT(ParseJobSpec("name: defaults\n", dir.path(), SmallMachine()), IsOk());
  EXPECT_THAT(ParseJobSpec("threads: 4\n", dir.path(), SmallMachine()), IsOk());
}

TEST(JobSpecTest, FilesMustBeRegularBoundedUtf8Text) {
  TempDir dir;
  const std::string fifo = dir.Join("fifo.txt");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  dir.Write("latin1.txt", "caf\xe9\n");
  dir.Write("big.txt", std::string((size_t{1} << 20) + 1, 'x'));
  dir.Write("train.jsonl", std::string(2048, ' '));
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const Case cases[] = {
      {"task:\n  template: {instruction_file: fifo.txt}\n", "task.template.instruction_file: "},
      {"task:\n  template: {instruction_file: fifo.txt}\n", "is a FIFO"},
      {"task:\n  template: {document_file: /dev/zero}\n", "is a character device"},
      {"task:\n  template: {document_file: latin1.txt}\n", "is not valid UTF-8 (byte 0xE9 at offset 3)"},
      {"task:\n  template: {instruction_file: big.txt}\n", "the limit is 1048576 bytes"},
      {"task:\n  source: jsonl\n  jsonl: {train: fifo.txt, validation: train.jsonl}\n", "task.jsonl.train: "},
      {"task:\n  source: jsonl\n  jsonl: {train: /dev/zero, validation: train.jsonl}\n", "character device"},
      {"model:\n  scratch: {pretrain_corpus: fifo.txt}\n", "model.scratch.pretrain_corpus: "},
      {"name: \"caf\xe9\"\n", "the job file is not valid UTF-8"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(c.yaml, dir.path());
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument)) << c.yaml;
    EXPECT_NE(spec.status().message().find(c.expected), absl::string_view::npos) << c.yaml << " -> " << spec.status();
  }
  JobSpecOptions small_inputs;
  small_inputs.max_input_file_bytes = 1024;
  absl::StatusOr<JobSpec> too_big = ParseJobSpec(
      "task:\n  source: jsonl\n  jsonl: {train: train.jsonl, validation: train.jsonl}\n", dir.path(), small_inputs);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("task.jsonl.train: "), absl::string_view::npos) << too_big.status();
  EXPECT_NE(too_big.status().message().find("2048 bytes"), absl::string_view::npos) << too_big.status();
}

// Without allowed roots (the CLI) any readable path goes; with them (the trainer service) only
// paths under them, after symlinks and ".." are resolved, and the error never says whether the
// file outside exists.
TEST(JobSpecTest, AllowedRootsConfineEveryPathAJobNames) {
  TempDir dir;
  dir.Write("allowed/instruction.txt", "Answer with one command.\n");
  dir.Write("allowed/data/train.jsonl", "{}\n");
  dir.MakeCheckpoint("allowed/model");
  const std::string outside = dir.Write("outside/secret.txt", "the server's secret\n");
  dir.MakeCheckpoint("outside/model");
  fs::create_symlink(outside, dir.Join("allowed/link.txt"));
  fs::create_symlink(dir.Join("outside/model"), dir.Join("allowed/model-link"));
  fs::create_symlink(outside, dir.Join("allowed/model/tokenizer.json"));
  JobSpecOptions confined;
  confined.allowed_roots = {dir.Join("allowed")};
  const std::string base = dir.Join("allowed");

  absl::StatusOr<JobSpec> inside =
      ParseJobSpec("task:\n  template: {instruction_file: instruction.txt}\n", base, confined);
  ASSERT_THAT(inside, IsOk());
  EXPECT_EQ(inside->task.instruction, "Answer with one command.\n");

  struct Case {
    std::string yaml;
    std::string field;
  };
  const Case cases[] = {
      {"task:\n  template: {instruction_file: /etc/hostname}\n", "task.template.instruction_file"},
      {"task:\n  template: {instruction_file: /nonexistent/file}\n", "task.template.instruction_file"},
      {"task:\n  template: {document_file: ../outside/secret.txt}\n", "task.template.document_file"},
      {"task:\n  template: {instruction_file: link.txt}\n", "task.template.instruction_file"},
      {"task:\n  source: jsonl\n  jsonl: {train: /etc/passwd, validation: data/train.jsonl}\n", "task.jsonl.train"},
      {"task:\n  jsonl: {pool: /etc/passwd}\n", "task.jsonl.pool"},
      {"model:\n  base: ../outside/model\n", "model.base"},
      {"model:\n  base: model-link\n", "model.base"},
      {"model:\n  base: model\n", "model.base"},  // its tokenizer.json links outside
      {"model:\n  scratch: {pretrain_corpus: /etc/hostname}\n", "model.scratch.pretrain_corpus"},
      {"compression: {scorer: /usr/lib}\n", "compression.scorer"},
      {"compression: {method: random, scorer: /etc}\n", "compression.scorer"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(c.yaml, base, confined);
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument)) << c.yaml;
    const std::string message(spec.status().message());
    EXPECT_EQ(message.rfind(c.field + ": ", 0), 0u) << c.yaml << " -> " << message;
    EXPECT_NE(message.find("outside the trainer's allowed paths"), std::string::npos) << c.yaml << " -> " << message;
    EXPECT_EQ(message.find("server's"), std::string::npos) << "no file content in errors: " << message;
  }
  // output.dir is the service's to choose: not checked, so not probed ("exists and is not a
  // directory" would tell that the file exists).
  EXPECT_THAT(ParseJobSpec("output: {dir: ../outside/secret.txt}\n", base, confined), IsOk());
  // The CLI reads what its user names.
  absl::StatusOr<JobSpec> local = ParseJobSpec("task:\n  template: {instruction_file: link.txt}\n", base);
  ASSERT_THAT(local, IsOk());
  EXPECT_EQ(local->task.instruction, "the server's secret\n");
}

}  // namespace
}  // namespace promptintern
