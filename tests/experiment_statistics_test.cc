// Statistics of experiments (core/experiment/statistics.h) and per-example scores
// (core/eval/example_scores.h), against known values.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/eval/bleu.h"
#include "core/eval/example_scores.h"
#include "core/experiment/statistics.h"
#include "core/task/task_kind.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

// The expected intervals below come from tests/data/bootstrap_reference.py, an independent Python
// implementation of the documented scheme (SplitMix64, examples then seeds per replicate, type-7
// quantiles), run once:
//   one seed, B=1000, seed 42: low 0.3125 high 0.68750000000000011
//   two seeds, B=500, seed 7: low 0.28072916666666686 high 0.85416666666666674
//   paired, B=400, seed 3: low 0.030000000000000134 high 0.19349999999999987 p 0.0099750623441396506
//   BLEU all: 50.837102207269119
//   BLEU one seed, B=300, seed 11: low 31.190710636058796 high 82.825856599459456
constexpr double kTolerance = 1e-9;

BootstrapOptions Options(int resamples, uint64_t seed) {
  BootstrapOptions options;
  options.resamples = resamples;
  options.seed = seed;
  return options;
}

TEST(ExperimentStatisticsTest, BootstrapIntervalOfAFixedSampleMatchesTheReference) {
  const SeedColumns seeds = {ScoreColumn::Mean({0.2, 0.9, 0.4, 0.7, 0.1, 0.5, 0.8, 0.3})};
  absl::StatusOr<Estimate> estimate = EstimateMetric(seeds, Options(1000, 42));
  ASSERT_THAT(estimate, IsOk());
  EXPECT_NEAR(estimate->mean, 0.4875, kTolerance);
  EXPECT_EQ(estimate->sd, 0.0);  // one seed
  EXPECT_NEAR(estimate->low, 0.3125, kTolerance);
  EXPECT_NEAR(estimate->high, 0.68750000000000011, kTolerance);
  EXPECT_EQ(estimate->seeds, 1);
  EXPECT_EQ(estimate->examples, 8);
}

TEST(ExperimentStatisticsTest, TwoLevelBootstrapOverSeedsMatchesTheReference) {
  const SeedColumns seeds = {ScoreColumn::Mean({1.0, 0.0, 1.0, 1.0, 0.0, 1.0}),
                             ScoreColumn::Mean({0.5, 0.25, 1.0, 0.75, 0.0, 0.5})};
  absl::StatusOr<Estimate> estimate = EstimateMetric(seeds, Options(500, 7));
  ASSERT_THAT(estimate, IsOk());
  // Seed means 4/6 and 3/6: their mean and sample standard deviation.
  EXPECT_NEAR(estimate->mean, (4.0 / 6 + 3.0 / 6) / 2, kTolerance);
  EXPECT_NEAR(estimate->sd, std::sqrt(2 * std::pow(1.0 / 12, 2)), kTolerance);
  EXPECT_NEAR(estimate->low, 0.28072916666666686, kTolerance);
  EXPECT_NEAR(estimate->high, 0.85416666666666674, kTolerance);
}

TEST(ExperimentStatisticsTest, CorpusBleuIsRecomputedOnEachResample) {
  const std::vector<std::array<int64_t, 10>> rows = {{3, 2, 1, 0, 4, 3, 2, 1, 4, 5},
                                                     {5, 4, 3, 2, 5, 4, 3, 2, 5, 5},
                                                     {1, 0, 0, 0, 3, 2, 1, 0, 3, 2},
                                                     {6, 3, 2, 1, 7, 6, 5, 4, 7, 8},
                                                     {2, 1, 0, 0, 2, 1, 0, 0, 2, 4}};
  std::vector<BleuStatistics> statistics;
  for (const auto& row : rows) {
    BleuStatistics s;
    for (int n = 0; n < 4; ++n) {
      s.matches[n] = row[n];
      s.totals[n] = row[4 + n];
    }
    s.hyp_len = row[8];
    s.ref_len = row[9];
    statistics.push_back(s);
  }
  const SeedColumns seeds = {ScoreColumn::Bleu(statistics)};
  EXPECT_NEAR(seeds.front().Value(), 50.837102207269119, 1e-9);
  absl::StatusOr<Estimate> estimate = EstimateMetric(seeds, Options(300, 11));
  ASSERT_THAT(estimate, IsOk());
  EXPECT_NEAR(estimate->low, 31.190710636058796, 1e-9);
  EXPECT_NEAR(estimate->high, 82.825856599459456, 1e-9);
}

TEST(ExperimentStatisticsTest, PairedComparisonMatchesTheReference) {
  const SeedColumns method = {ScoreColumn::Mean({0.6, 0.2, 0.9, 0.4, 0.7}), ScoreColumn::Mean({0.5, 0.3, 0.8, 0.6, 0.6})};
  const SeedColumns baseline = {ScoreColumn::Mean({0.5, 0.1, 0.7, 0.5, 0.4}), ScoreColumn::Mean({0.4, 0.3, 0.9, 0.2, 0.5}),
                                ScoreColumn::Mean({0.6, 0.2, 0.6, 0.3, 0.5})};
  absl::StatusOr<Comparison> comparison = CompareMethods(method, baseline, Options(400, 3));
  ASSERT_THAT(comparison, IsOk());
  EXPECT_NEAR(comparison->difference, (0.56 + 0.56) / 2 - (0.44 + 0.46 + 0.44) / 3, kTolerance);
  EXPECT_NEAR(comparison->low, 0.030000000000000134, kTolerance);
  EXPECT_NEAR(comparison->high, 0.19349999999999987, kTolerance);
  EXPECT_NEAR(comparison->p_value, 0.0099750623441396506, kTolerance);
  EXPECT_TRUE(comparison->distinguishable);
}

// Analytically: for the mean of n values the bootstrap distribution is close to normal with standard
// deviation sigma / sqrt(n) (sigma with denominator n), so the 95% interval is mean +- 1.96 sigma / sqrt(n).
TEST(ExperimentStatisticsTest, IntervalOfAMeanHasTheNormalTheoryWidth) {
  std::vector<double> values;
  for (int i = 0; i < 400; ++i) values.push_back(static_cast<double>((i * 37) % 101) / 100.0);
  double mean = 0.0;
  for (double v : values) mean += v;
  mean /= values.size();
  double variance = 0.0;
  for (double v : values) variance += (v - mean) * (v - mean);
  const double sigma = std::sqrt(variance / values.size());
  absl::StatusOr<Estimate> estimate = EstimateMetric({ScoreColumn::Mean(values)}, Options(8000, 5));
  ASSERT_THAT(estimate, IsOk());
  const double half_width = 1.959964 * sigma / std::sqrt(400.0);
  EXPECT_NEAR(estimate->high - estimate->low, 2 * half_width, 0.05 * 2 * half_width);
  EXPECT_NEAR((estimate->high + estimate->low) / 2, mean, 0.1 * half_width);
}

TEST(ExperimentStatisticsTest, AConstantSampleHasAZeroWidthInterval) {
  absl::StatusOr<Estimate> estimate = EstimateMetric({ScoreColumn::Mean(std::vector<double>(50, 0.25))}, Options(200, 1));
  ASSERT_THAT(estimate, IsOk());
  EXPECT_DOUBLE_EQ(estimate->low, 0.25);
  EXPECT_DOUBLE_EQ(estimate->high, 0.25);
}

TEST(ExperimentStatisticsTest, IdenticalMethodsAreNotDistinguishable) {
  std::vector<double> values;
  for (int i = 0; i < 120; ++i) values.push_back((i % 7) / 6.0);
  const SeedColumns one_seed = {ScoreColumn::Mean(values)};
  absl::StatusOr<Comparison> same = CompareMethods(one_seed, one_seed, Options(1000, 9));
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->difference, 0.0);
  EXPECT_EQ(same->low, 0.0);
  EXPECT_EQ(same->high, 0.0);
  EXPECT_EQ(same->p_value, 1.0);
  EXPECT_FALSE(same->distinguishable);

  // Several seeds on both sides, drawn independently: the interval straddles 0.
  std::vector<double> shifted = values;
  std::rotate(shifted.begin(), shifted.begin() + 3, shifted.end());
  const SeedColumns seeds = {ScoreColumn::Mean(values), ScoreColumn::Mean(shifted)};
  absl::StatusOr<Comparison> seeded = CompareMethods(seeds, seeds, Options(1000, 9));
  ASSERT_THAT(seeded, IsOk());
  EXPECT_NEAR(seeded->difference, 0.0, 1e-12);
  EXPECT_LT(seeded->low, 0.0);
  EXPECT_GT(seeded->high, 0.0);
  EXPECT_GT(seeded->p_value, 0.05);
  EXPECT_FALSE(seeded->distinguishable);
}

TEST(ExperimentStatisticsTest, AMethodBetterOnEveryExampleIsDistinguishable) {
  std::vector<double> worse;
  std::vector<double> better;
  for (int i = 0; i < 60; ++i) {
    worse.push_back((i % 5) / 10.0);
    better.push_back((i % 5) / 10.0 + 0.05 + (i % 3) / 100.0);
  }
  const SeedColumns method = {ScoreColumn::Mean(better)};
  const SeedColumns baseline = {ScoreColumn::Mean(worse)};
  absl::StatusOr<Comparison> comparison = CompareMethods(method, baseline, Options(2000, 4));
  ASSERT_THAT(comparison, IsOk());
  EXPECT_GT(comparison->low, 0.0);
  EXPECT_NEAR(comparison->p_value, 2.0 / 2001, 1e-12);  // every resample favours the method
  EXPECT_TRUE(comparison->distinguishable);
  absl::StatusOr<Comparison> reversed = CompareMethods(baseline, method, Options(2000, 4));
  ASSERT_THAT(reversed, IsOk());
  EXPECT_LT(reversed->high, 0.0);
  EXPECT_TRUE(reversed->distinguishable);
}

TEST(ExperimentStatisticsTest, MisalignedInputsAreErrors) {
  EXPECT_FALSE(EstimateMetric({}, Options(100, 1)).ok());
  EXPECT_FALSE(EstimateMetric({ScoreColumn::Mean({})}, Options(100, 1)).ok());
  EXPECT_FALSE(EstimateMetric({ScoreColumn::Mean({1}), ScoreColumn::Mean({1, 2})}, Options(100, 1)).ok());
  EXPECT_FALSE(CompareMethods({ScoreColumn::Mean({1, 2})}, {ScoreColumn::Mean({1, 2, 3})}, Options(100, 1)).ok());
  EXPECT_FALSE(EstimateMetric({ScoreColumn::Mean({1})}, Options(0, 1)).ok());
}

TEST(ExampleScoresTest, PerExampleBleuStatisticsSumToTheCorpusScore) {
  const std::vector<std::string> predictions = {"ls -la /tmp", "find . -name '*.txt'", "", "grep -r foo  .",
                                                "du -sh *"};
  const std::vector<std::string> references = {"ls -l /tmp", "find . -name \"*.txt\" -type f", "wc -l file",
                                               "grep -r foo .", "du -sh ."};
  absl::StatusOr<std::vector<ExampleScore>> scores = ScoreExamples(predictions, references, MetricOf(*FindTaskKind("nl2bash")));
  ASSERT_THAT(scores, IsOk());
  BleuStatistics total;
  for (const ExampleScore& score : *scores) total += score.bleu;
  absl::StatusOr<BleuScore> corpus = CorpusBleu(predictions, references);
  ASSERT_THAT(corpus, IsOk());
  EXPECT_DOUBLE_EQ(total.Score(), corpus->score);
  EXPECT_EQ((*scores)[3].exact, 1.0);  // whitespace-normalized
  EXPECT_EQ((*scores)[0].exact, 0.0);
  EXPECT_EQ((*scores)[3].task_metric, "structure");
  EXPECT_EQ((*scores)[3].task_score, 1.0);

  const std::string jsonl = ExampleScoresToJsonl(*scores);
  absl::StatusOr<std::vector<ExampleScore>> back = ExampleScoresFromJsonl(jsonl, "scores.jsonl");
  ASSERT_THAT(back, IsOk());
  ASSERT_EQ(back->size(), scores->size());
  for (size_t i = 0; i < scores->size(); ++i) {
    EXPECT_EQ((*back)[i].prediction, (*scores)[i].prediction);
    EXPECT_EQ((*back)[i].task_metric, (*scores)[i].task_metric);
    EXPECT_EQ((*back)[i].task_score, (*scores)[i].task_score);
    EXPECT_EQ((*back)[i].bleu.matches, (*scores)[i].bleu.matches);
    EXPECT_EQ((*back)[i].bleu.ref_len, (*scores)[i].bleu.ref_len);
  }
}

TEST(ExampleScoresTest, DamagedFilesAreDataLossNamingTheLine) {
  const auto error = [](const std::string& text) {
    absl::StatusOr<std::vector<ExampleScore>> scores = ExampleScoresFromJsonl(text, "x.jsonl");
    EXPECT_FALSE(scores.ok());
    return std::string(scores.status().message());
  };
  const std::string good =
      R"({"index":0,"reference":"a","prediction":"a","exact":1,"structure":1,)"
      R"("bleu":{"matches":[1,0,0,0],"totals":[1,0,0,0],"hyp_len":1,"ref_len":1}})";
  ASSERT_THAT(ExampleScoresFromJsonl(good + "\n", "x.jsonl"), IsOk());
  EXPECT_NE(error(good + "\n{oops\n").find("line 2"), std::string::npos);
  EXPECT_NE(error("").find("no examples"), std::string::npos);
  std::string wrong_index = good;
  wrong_index.replace(wrong_index.find("\"index\":0"), 9, "\"index\":3");
  EXPECT_NE(error(wrong_index).find("index"), std::string::npos);
  std::string too_many = good;
  too_many.replace(too_many.find("\"matches\":[1"), 12, "\"matches\":[2");
  EXPECT_NE(error(too_many).find("more n-gram matches"), std::string::npos);
  std::string out_of_range = good;
  out_of_range.replace(out_of_range.find("\"exact\":1"), 9, "\"exact\":7");
  EXPECT_NE(error(out_of_range).find("exact"), std::string::npos);
}

}  // namespace
}  // namespace promptintern
