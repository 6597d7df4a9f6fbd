// The experiment file (core/experiment/experiment_spec.h): resolution of rows into jobs, and errors
// that name the field and its line.
#include "core/experiment/experiment_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/experiment/experiment.h"
#include "core/pipeline/token_budget.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::testing::HasSubstr;

class ExperimentSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("experiment_spec");
    ASSERT_THAT(WriteFileAtomic(JoinPath(dir_, "tiny.yaml"), testing::TinyJobYaml("tiny", 6)), IsOk());
  }
  absl::StatusOr<ExperimentSpec> Parse(const std::string& yaml) { return ParseExperimentSpec(yaml, dir_, "exp.yaml"); }
  std::string Error(const std::string& yaml) {
    absl::StatusOr<ExperimentSpec> spec = Parse(yaml);
    EXPECT_FALSE(spec.ok()) << yaml;
    EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument)) << spec.status();
    return std::string(spec.status().message());
  }
  std::string dir_;
};

TEST_F(ExperimentSpecTest, RowsResolveToJobsWithOverridesSeedsAndBudgets) {
  absl::StatusOr<ExperimentSpec> spec = Parse(R"(
name: demo
seeds: 3
budget: {steps: 10}
overrides: {eval: {limit: 3}}
baseline: pi
rows:
  - {name: pi, job: tiny.yaml, mode: full_prompt}
  - name: pi-query
    label: PromptIntern, query only
    job: tiny.yaml
  - name: short
    job: tiny.yaml
    budget: {tokens: 5000}
    overrides: {schedule: {kind: query_only, stages: 1}, eval: {modes: [query_only]}}
)");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->seeds, (std::vector<uint64_t>{1, 2, 3}));
  ASSERT_EQ(spec->rows.size(), 3u);
  EXPECT_EQ(spec->rows[0].mode, "full_prompt");
  EXPECT_EQ(spec->rows[1].mode, "query_only");  // the default when the job evaluates it
  EXPECT_EQ(spec->rows[1].label, "PromptIntern, query only");
  EXPECT_EQ(spec->rows[0].job.eval.limit, 3);    // the experiment's override
  EXPECT_EQ(spec->rows[2].job.eval.limit, 3);
  EXPECT_EQ(spec->rows[2].job.schedule.kind, ScheduleKind::kQueryOnly);
  EXPECT_EQ(spec->rows[0].budget.kind, BudgetSpec::Kind::kSteps);
  EXPECT_EQ(spec->rows[2].budget.kind, BudgetSpec::Kind::kTokens);
  EXPECT_EQ(spec->rows[2].budget.value, 5000);
  ASSERT_EQ(spec->tables.size(), 1u);
  EXPECT_EQ(spec->tables[0].baseline, "pi");
  EXPECT_EQ(spec->output_dir, JoinPath(dir_, "runs/experiments/demo"));

  // Rows that resolve to the same job share a cell; each seed is its own cell.
  absl::StatusOr<std::vector<ExperimentCell>> cells = PlanCells(*spec, JoinPath(dir_, "out"), 1);
  ASSERT_THAT(cells, IsOk());
  ASSERT_EQ(cells->size(), 6u);  // (pi = pi-query, short) x 3 seeds
  EXPECT_EQ((*cells)[0].rows, (std::vector<int>{0, 1}));
  EXPECT_EQ((*cells)[0].seed, 1u);
  EXPECT_EQ((*cells)[2].seed, 2u);  // seed-major order
  EXPECT_EQ((*cells)[0].job.training.steps, 10);
  EXPECT_EQ((*cells)[0].job.threads, 1);
  EXPECT_GE((*cells)[1].job.training.steps, 1);
  EXPECT_NE((*cells)[0].id, (*cells)[2].id);
  // The same plan again (budgets.json now fixes the token budget's steps) gives the same cells.
  absl::StatusOr<std::vector<ExperimentCell>> again = PlanCells(*spec, JoinPath(dir_, "out"), 2);
  ASSERT_THAT(again, IsOk());
  for (size_t i = 0; i < cells->size(); ++i) EXPECT_EQ((*again)[i].id, (*cells)[i].id);
}

TEST_F(ExperimentSpecTest, OverridesMergeMappingsUnlessTheyChangeTheirKind) {
  absl::StatusOr<ExperimentSpec> spec = Parse(R"(
name: merge
rows:
  - {name: same-kind, job: tiny.yaml, overrides: {schedule: {keep_ratios: [1, 0.3, 0]}}}
  - {name: other-kind, job: tiny.yaml, overrides: {schedule: {kind: query_only, stages: 1}}}
)");
  // A table's own baseline, with none for the experiment.
  absl::StatusOr<ExperimentSpec> tabled = Parse(R"(
name: tabled
rows: [{name: a, job: tiny.yaml}, {name: b, job: tiny.yaml}]
tables: [{title: T, baseline: b, rows: [a, b]}]
)");
  ASSERT_THAT(tabled, IsOk());
  EXPECT_EQ(tabled->tables[0].baseline, "b");
  ASSERT_THAT(spec, IsOk());
  ASSERT_EQ(spec->tables.size(), 1u);  // the default table: every row, no baseline
  EXPECT_EQ(spec->tables[0].baseline, "");
  // The same kind: merged, the job file's num_examples kept.
  EXPECT_EQ(spec->rows[0].job.schedule.kind, ScheduleKind::kExplicit);
  EXPECT_EQ(spec->rows[0].job.schedule.keep_ratios, (std::vector<double>{1, 0.3, 0}));
  EXPECT_EQ(spec->rows[0].job.schedule.num_examples, (std::vector<int>{2, 1, 0}));
  // Another kind: the explicit schedule's lists would mean nothing to it, so it replaces the mapping.
  EXPECT_EQ(spec->rows[1].job.schedule.kind, ScheduleKind::kQueryOnly);
  EXPECT_EQ(spec->rows[1].job.schedule.num_stages, 1);
}

TEST_F(ExperimentSpecTest, ErrorsNameTheFieldAndItsLine) {
  EXPECT_THAT(Error("name: x\nrows: []\n"), HasSubstr("rows: expected a non-empty list of rows, got a list (line 2"));
  EXPECT_THAT(Error("name: x\nsedes: 3\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("unknown field 'sedes'"));
  EXPECT_THAT(Error("name: x\nsedes: 3\nrows: [{name: a, job: tiny.yaml}]\n"), HasSubstr("(line 2, column 1)"));
  EXPECT_THAT(Error("name: x\nseeds: 0\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("seeds: expected an integer in [1, 1000], got '0' (line 2, column 8)"));
  EXPECT_THAT(Error("name: x\nrows:\n  - name: a\n    job: missing.yaml\n"),
              HasSubstr("rows[0].job: no such job file"));
  EXPECT_THAT(Error("name: x\nrows:\n  - name: a\n    job: tiny.yaml\n    mode: compressed\n"),
              HasSubstr("rows[0].mode: the job evaluates query_only, full_prompt (eval.modes), not 'compressed' (line 5"));
  EXPECT_THAT(Error("name: x\nrows:\n  - {name: a, job: tiny.yaml}\n  - {name: a, job: tiny.yaml}\n"),
              HasSubstr("rows[1].name: another row is already called 'a' (line 4"));
  EXPECT_THAT(Error("name: x\nbudget: {steps: 5, tokens: 9}\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("budget: give exactly one of steps, tokens (line 2"));
  EXPECT_THAT(Error("name: x\nbaseline: b\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("baseline: no row is called 'b' (line 2"));
  EXPECT_THAT(Error("name: x\nrows: [{name: a, job: tiny.yaml}]\ntables:\n  - title: T\n    rows: [a, c]\n"),
              HasSubstr("tables[0].rows[1]: no row is called 'c' (line 5"));
  EXPECT_THAT(Error("name: x\nrows: [{name: A b, job: tiny.yaml}]\n"), HasSubstr("rows[0].name: 'A b' must be"));
  EXPECT_THAT(Error("name: [x\n"), HasSubstr("exp.yaml: not valid YAML"));
  EXPECT_THAT(Error("name: x\nrows: [{name: a, job: tiny.yaml}, {name: b, job: tiny.yaml}]\n"
                    "tables:\n  - {title: T, baseline: b, rows: [a]}\n"),
              HasSubstr("tables[0].baseline: the baseline 'b' is not one of the rows of 'T' (line 4"));
  EXPECT_THAT(Error("name: x\nbaseline: b\nrows: [{name: a, job: tiny.yaml}, {name: b, job: tiny.yaml}]\n"
                    "tables:\n  - {title: T, rows: [a]}\n"),
              HasSubstr("baseline: the baseline 'b' is not one of the rows of 'T' (line 2"));
}

TEST_F(ExperimentSpecTest, ABadOverrideIsReportedAtItsLineInTheExperimentFile) {
  // The job file is fine; the override breaks it. The error names the override and its line.
  EXPECT_THAT(Error("name: x\nrows:\n  - name: a\n    job: tiny.yaml\n    overrides:\n      training:\n        steps: -4\n"),
              HasSubstr("rows[0].overrides.training.steps: in "));
  EXPECT_THAT(Error("name: x\nrows:\n  - name: a\n    job: tiny.yaml\n    overrides:\n      training:\n        steps: -4\n"),
              HasSubstr("training.steps: expected a positive integer, got '-4' (line 7, column 9)"));
  EXPECT_THAT(Error("name: x\noverrides:\n  training: {stpes: 4}\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("overrides.training.stpes: in "));
  EXPECT_THAT(Error("name: x\noverrides:\n  training: {stpes: 4}\nrows: [{name: a, job: tiny.yaml}]\n"),
              HasSubstr("did you mean 'steps'? (line 3, column 14)"));
  // A mistake in the job file itself points into the job file.
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir_, "bad.yaml"), "name: b\ntraining: {steps: zero}\n"), IsOk());
  const std::string error = Error("name: x\nrows: [{name: a, job: bad.yaml}]\n");
  EXPECT_THAT(error, HasSubstr("rows[0].job (line 2"));
  EXPECT_THAT(error, HasSubstr("bad.yaml: training.steps: expected a positive integer, got 'zero' (line 2, column 19)"));
}

TEST(TokenBudgetTest, StepsComeFromTheStagesTokenCostsAndTheirShares) {
  ScheduleSpec schedule;
  schedule.kind = ScheduleKind::kExplicit;
  schedule.num_stages = 2;
  schedule.keep_ratios = {1.0, 0.0};
  schedule.num_examples = {2, 0};
  schedule.step_shares = {0.5, 0.5};
  // 100 tokens per step in the first stage, 10 in the second: S steps cost 55 S tokens.
  absl::StatusOr<int64_t> steps = StepsForTokenBudget(schedule, {100.0, 10.0}, 5500);
  ASSERT_THAT(steps, IsOk());
  EXPECT_EQ(*steps, 100);
  EXPECT_EQ(*EstimatedTokens(schedule, {100.0, 10.0}, 100), 5500.0);
  // Between two counts, the closer one.
  EXPECT_EQ(*StepsForTokenBudget(schedule, {100.0, 10.0}, 5500 + 30), 100);
  EXPECT_EQ(*StepsForTokenBudget(schedule, {100.0, 10.0}, 5500 + 80), 101);  // 51 + 50 steps: 5600
  // Too small a budget still gives every stage a step.
  EXPECT_EQ(*StepsForTokenBudget(schedule, {100.0, 10.0}, 1), 2);
  EXPECT_FALSE(StepsForTokenBudget(schedule, {100.0, 10.0}, 0).ok());
  EXPECT_FALSE(StepsForTokenBudget(schedule, {100.0}, 5000).ok());  // one estimate for two stages
}

}  // namespace
}  // namespace promptintern
