#include "core/schedule/stage_schedule.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

std::vector<Stage> BuildOrDie(const ScheduleSpec& spec, int64_t total_steps) {
  absl::StatusOr<std::vector<Stage>> stages = BuildStages(spec, total_steps);
  EXPECT_THAT(stages, IsOk());
  return stages.ok() ? *std::move(stages) : std::vector<Stage>{};
}

std::vector<double> Ratios(const std::vector<Stage>& stages) {
  std::vector<double> out;
  for (const Stage& stage : stages) out.push_back(stage.keep_ratio);
  return out;
}

std::vector<int> Counts(const std::vector<Stage>& stages) {
  std::vector<int> out;
  for (const Stage& stage : stages) out.push_back(stage.num_examples);
  return out;
}

void ExpectRatiosNear(const std::vector<Stage>& stages, const std::vector<double>& expected) {
  ASSERT_EQ(stages.size(), expected.size());
  for (size_t s = 0; s < expected.size(); ++s) {
    EXPECT_NEAR(stages[s].keep_ratio, expected[s], 1e-12) << "stage " << s;
  }
}

ScheduleSpec CurvedSpec(ScheduleKind kind, int num_stages, int max_examples) {
  ScheduleSpec spec;
  spec.kind = kind;
  spec.num_stages = num_stages;
  spec.max_examples = max_examples;
  return spec;
}

// Expects an InvalidArgument whose message names `field`.
void ExpectErrorNaming(const ScheduleSpec& spec, const std::string& field,
                       int64_t total_steps = 100) {
  absl::StatusOr<std::vector<Stage>> stages = BuildStages(spec, total_steps);
  ASSERT_FALSE(stages.ok()) << "expected an error naming " << field;
  EXPECT_THAT(stages, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(stages.status().message()).find(field), std::string::npos)
      << stages.status();
}

TEST(StageScheduleTest, DefaultIsThePaperSchedule) {
  const std::vector<Stage> stages = BuildOrDie(ScheduleSpec{}, 400);
  EXPECT_EQ(Ratios(stages), (std::vector<double>{1.0, 0.6, 0.3, 0.0}));
  EXPECT_EQ(Counts(stages), (std::vector<int>{5, 3, 1, 0}));
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(stages[s].index, s);
    EXPECT_EQ(stages[s].steps, 100);
  }
}

TEST(StageScheduleTest, Linear) {
  const std::vector<Stage> stages = BuildOrDie(CurvedSpec(ScheduleKind::kLinear, 4, 5), 40);
  ExpectRatiosNear(stages, {1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0});
  // 5 * 2/3 = 3.33 -> 3, 5 * 1/3 = 1.67 -> 2.
  EXPECT_EQ(Counts(stages), (std::vector<int>{5, 3, 2, 0}));
}

TEST(StageScheduleTest, ExponentialDropsFastEarly) {
  const std::vector<Stage> stages =
      BuildOrDie(CurvedSpec(ScheduleKind::kExponential, 4, 5), 40);
  const double e3 = std::exp(-3.0);
  ExpectRatiosNear(stages, {1.0, (std::exp(-1.0) - e3) / (1 - e3),
                            (std::exp(-2.0) - e3) / (1 - e3), 0.0});
  EXPECT_NEAR(stages[1].keep_ratio, 0.3347590442251781, 1e-9);
  EXPECT_NEAR(stages[2].keep_ratio, 0.09003057317038046, 1e-9);
  // 5 * 0.335 = 1.67 -> 2, 5 * 0.090 = 0.45 -> 0.
  EXPECT_EQ(Counts(stages), (std::vector<int>{5, 2, 0, 0}));
}

TEST(StageScheduleTest, InverseExponentialDropsSlowlyEarly) {
  const std::vector<Stage> stages =
      BuildOrDie(CurvedSpec(ScheduleKind::kInverseExponential, 4, 5), 40);
  ExpectRatiosNear(stages, {1.0, 1.0 - 0.09003057317038046, 1.0 - 0.3347590442251781, 0.0});
  // 5 * 0.910 = 4.55 -> 5, 5 * 0.665 = 3.33 -> 3.
  EXPECT_EQ(Counts(stages), (std::vector<int>{5, 5, 3, 0}));
}

TEST(StageScheduleTest, AlphaChangesTheCurve) {
  ScheduleSpec spec = CurvedSpec(ScheduleKind::kExponential, 3, 4);
  spec.alpha = 1.0;
  const std::vector<Stage> stages = BuildOrDie(spec, 30);
  // (e^-0.5 - e^-1) / (1 - e^-1)
  EXPECT_NEAR(stages[1].keep_ratio, (std::exp(-0.5) - std::exp(-1.0)) / (1 - std::exp(-1.0)),
              1e-12);
  EXPECT_NEAR(stages[1].keep_ratio, 0.3775406687981454, 1e-9);
  EXPECT_EQ(stages[1].num_examples, 2);  // 4 * 0.378 = 1.51 -> 2
}

TEST(StageScheduleTest, SingleStageCurvedIsQueryOnly) {
  for (ScheduleKind kind : {ScheduleKind::kLinear, ScheduleKind::kExponential,
                            ScheduleKind::kInverseExponential}) {
    const std::vector<Stage> stages = BuildOrDie(CurvedSpec(kind, 1, 5), 10);
    ASSERT_EQ(stages.size(), 1u);
    EXPECT_EQ(stages[0].keep_ratio, 0.0);
    EXPECT_EQ(stages[0].num_examples, 0);
    EXPECT_EQ(stages[0].steps, 10);
  }
}

TEST(StageScheduleTest, CurvesAreMonotoneAndEndQueryOnly) {
  for (ScheduleKind kind : {ScheduleKind::kLinear, ScheduleKind::kExponential,
                            ScheduleKind::kInverseExponential}) {
    for (int num_stages = 2; num_stages <= 12; ++num_stages) {
      for (int max_examples : {0, 1, 5, 16}) {
        const std::vector<Stage> stages =
            BuildOrDie(CurvedSpec(kind, num_stages, max_examples), 1000);
        ASSERT_EQ(stages.size(), static_cast<size_t>(num_stages));
        EXPECT_EQ(stages.front().keep_ratio, 1.0);
        EXPECT_EQ(stages.front().num_examples, max_examples);
        EXPECT_EQ(stages.back().keep_ratio, 0.0);
        EXPECT_EQ(stages.back().num_examples, 0);
        for (size_t s = 1; s < stages.size(); ++s) {
          EXPECT_LE(stages[s].keep_ratio, stages[s - 1].keep_ratio);
          EXPECT_LE(stages[s].num_examples, stages[s - 1].num_examples);
          EXPECT_GE(stages[s].keep_ratio, 0.0);
        }
      }
    }
  }
}

TEST(StageScheduleTest, ExponentialLiesBelowLinearBelowInverse) {
  const auto lin = BuildOrDie(CurvedSpec(ScheduleKind::kLinear, 6, 5), 60);
  const auto exp = BuildOrDie(CurvedSpec(ScheduleKind::kExponential, 6, 5), 60);
  const auto inv = BuildOrDie(CurvedSpec(ScheduleKind::kInverseExponential, 6, 5), 60);
  for (int s = 1; s < 5; ++s) {
    EXPECT_LT(exp[s].keep_ratio, lin[s].keep_ratio);
    EXPECT_LT(lin[s].keep_ratio, inv[s].keep_ratio);
  }
}

TEST(StageScheduleTest, Baselines) {
  const auto full = BuildOrDie(CurvedSpec(ScheduleKind::kFullPrompt, 2, 5), 10);
  EXPECT_EQ(Ratios(full), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(Counts(full), (std::vector<int>{5, 5}));

  const auto query = BuildOrDie(CurvedSpec(ScheduleKind::kQueryOnly, 1, 5), 10);
  EXPECT_EQ(Ratios(query), (std::vector<double>{0.0}));
  EXPECT_EQ(Counts(query), (std::vector<int>{0}));

  const auto templ = BuildOrDie(CurvedSpec(ScheduleKind::kTemplateOnly, 1, 5), 10);
  EXPECT_EQ(Ratios(templ), (std::vector<double>{1.0}));
  EXPECT_EQ(Counts(templ), (std::vector<int>{0}));
}

TEST(StageScheduleTest, ExplicitLists) {
  ScheduleSpec spec;
  spec.num_stages = 3;
  spec.keep_ratios = {0.8, 0.8, 0.0};
  spec.num_examples = {2, 2, 0};
  const auto stages = BuildOrDie(spec, 9);
  EXPECT_EQ(Ratios(stages), (std::vector<double>{0.8, 0.8, 0.0}));
  EXPECT_EQ(Counts(stages), (std::vector<int>{2, 2, 0}));
}

TEST(SplitStepsTest, KnownSplits) {
  EXPECT_EQ(*SplitSteps(10, {1.0 / 3, 1.0 / 3, 1.0 / 3}), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(*SplitSteps(1000, {0.5, 0.3, 0.2}), (std::vector<int64_t>{500, 300, 200}));
  EXPECT_EQ(*SplitSteps(7, {1.0}), (std::vector<int64_t>{7}));
  EXPECT_EQ(*SplitSteps(0, {0.5, 0.5}), (std::vector<int64_t>{0, 0}));
}

TEST(SplitStepsTest, SumsExactlyAndStaysWithinOneStepOfEachShare) {
  uint64_t state = 12345;
  auto next_unit = [&state]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int trial = 0; trial < 2000; ++trial) {
    const int parts = 1 + trial % 9;
    std::vector<double> shares(parts);
    double sum = 0.0;
    for (double& share : shares) sum += (share = 0.05 + next_unit());
    for (double& share : shares) share /= sum;
    const int64_t total = static_cast<int64_t>(next_unit() * 100000) + trial % 3;
    const absl::StatusOr<std::vector<int64_t>> steps = SplitSteps(total, shares);
    ASSERT_THAT(steps, IsOk());
    int64_t got = 0;
    for (int s = 0; s < parts; ++s) {
      got += (*steps)[s];
      EXPECT_LE(std::abs(static_cast<double>((*steps)[s]) - total * shares[s]), 1.0 + 1e-6);
    }
    EXPECT_EQ(got, total);
  }
}

TEST(StageScheduleTest, StepSharesAreApplied) {
  ScheduleSpec spec;
  spec.step_shares = {0.4, 0.3, 0.2, 0.1};
  const auto stages = BuildOrDie(spec, 1001);
  EXPECT_EQ(stages[0].steps, 400);  // round(400.4)
  EXPECT_EQ(stages[1].steps, 301);  // round(700.7) - 400
  EXPECT_EQ(stages[2].steps, 200);  // round(900.9) - 701
  EXPECT_EQ(stages[3].steps, 100);  // 1001 - 901
}

TEST(StageScheduleTest, InvalidSpecsNameTheField) {
  ScheduleSpec spec;
  spec.keep_ratios = {1.0, 0.6, 1.5, 0.0};
  ExpectErrorNaming(spec, "schedule.keep_ratios[2]: 1.5 is outside [0, 1]");

  spec = ScheduleSpec{};
  spec.keep_ratios = {1.0, 0.3, 0.6, 0.0};
  ExpectErrorNaming(spec, "schedule.keep_ratios[2]");

  spec = ScheduleSpec{};
  spec.keep_ratios = {1.0, NAN, 0.3, 0.0};
  ExpectErrorNaming(spec, "schedule.keep_ratios[1]");

  spec = ScheduleSpec{};
  spec.num_examples = {5, 3, -1, 0};
  ExpectErrorNaming(spec, "schedule.num_examples[2]: -1 is negative");

  spec = ScheduleSpec{};
  spec.num_examples = {3, 5, 1, 0};
  ExpectErrorNaming(spec, "schedule.num_examples[1]");

  spec = ScheduleSpec{};
  spec.num_examples = {5, 3, 0};
  ExpectErrorNaming(spec, "schedule.num_examples: has 3 entries");

  spec = ScheduleSpec{};
  spec.num_stages = 5;
  ExpectErrorNaming(spec, "schedule.num_stages: 5");

  spec = ScheduleSpec{};
  spec.keep_ratios = {1.0, 0.6, 0.3, 0.1};
  ExpectErrorNaming(spec, "schedule.keep_ratios[3]: 0.1, but the last stage must be query-only");

  spec = ScheduleSpec{};
  spec.num_examples = {5, 3, 1, 1};
  ExpectErrorNaming(spec, "schedule.num_examples[3]");

  spec = CurvedSpec(ScheduleKind::kLinear, 0, 5);
  ExpectErrorNaming(spec, "schedule.num_stages: 0");

  spec = CurvedSpec(ScheduleKind::kLinear, 3, -2);
  ExpectErrorNaming(spec, "schedule.max_examples: -2");

  spec = CurvedSpec(ScheduleKind::kExponential, 3, 5);
  spec.alpha = 0.0;
  ExpectErrorNaming(spec, "schedule.alpha");

  spec = ScheduleSpec{};
  spec.step_shares = {0.5, 0.5};
  ExpectErrorNaming(spec, "schedule.step_shares: has 2 entries for 4 stages");

  spec = ScheduleSpec{};
  spec.step_shares = {0.3, 0.3, 0.3, 0.3};
  ExpectErrorNaming(spec, "schedule.step_shares: entries sum to 1.2");

  spec = ScheduleSpec{};
  spec.step_shares = {0.5, 0.5, 0.0, 0.0};
  ExpectErrorNaming(spec, "schedule.step_shares[2]");

  ExpectErrorNaming(ScheduleSpec{}, "total_steps: -1", -1);
  ExpectErrorNaming(ScheduleSpec{}, "total_steps: 3 is too few", 3);
}

TEST(StageScheduleTest, ShareSumToleranceIsOneInAMillion) {
  ScheduleSpec spec;
  spec.step_shares = {0.25, 0.25, 0.25, 0.25 + 5e-7};
  EXPECT_THAT(BuildStages(spec, 100), IsOk());
  spec.step_shares = {0.25, 0.25, 0.25, 0.25 + 5e-6};
  EXPECT_FALSE(BuildStages(spec, 100).ok());
}

TEST(ScheduleKindTest, NamesRoundTrip) {
  for (ScheduleKind kind :
       {ScheduleKind::kLinear, ScheduleKind::kExponential, ScheduleKind::kInverseExponential,
        ScheduleKind::kExplicit, ScheduleKind::kFullPrompt, ScheduleKind::kQueryOnly,
        ScheduleKind::kTemplateOnly}) {
    const absl::StatusOr<ScheduleKind> parsed = ParseScheduleKind(ScheduleKindName(kind));
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ScheduleKindName(ScheduleKind::kInverseExponential), "inverse_exponential");
  const absl::StatusOr<ScheduleKind> bad = ParseScheduleKind("cosine");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("schedule.kind"), std::string::npos);
}

}  // namespace
}  // namespace promptintern
