#include "core/eval/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

// ---------------------------------------------------------------------------------------------
// Exact match.

TEST(NormalizeWhitespaceTest, TrimsAndCollapsesAsciiWhitespace) {
  EXPECT_EQ(NormalizeWhitespace("  ls \t -l\n\n/tmp \r\n"), "ls -l /tmp");
  EXPECT_EQ(NormalizeWhitespace("a\vb\fc"), "a b c");
  EXPECT_EQ(NormalizeWhitespace(""), "");
  EXPECT_EQ(NormalizeWhitespace(" \t\n "), "");
  EXPECT_EQ(NormalizeWhitespace("already normal"), "already normal");
}

TEST(NormalizeWhitespaceTest, KeepsNonAsciiSpacesAndCase) {
  EXPECT_EQ(NormalizeWhitespace("a\xC2\xA0 b"), "a\xC2\xA0 b");  // U+00A0 is content.
  EXPECT_EQ(NormalizeWhitespace("LS"), "LS");
}

TEST(ExactMatchTest, IgnoresWhitespaceLayoutOnly) {
  EXPECT_TRUE(ExactMatch("ls  -l", " ls -l\n"));
  EXPECT_TRUE(ExactMatch("", "   "));
  EXPECT_FALSE(ExactMatch("ls -l", "ls -L"));
  EXPECT_FALSE(ExactMatch("ls -l", "ls-l"));  // Removing a space is not a layout change.
  EXPECT_FALSE(ExactMatch("ls", ""));
}

TEST(ExactMatchRateTest, CountsMatchingPairs) {
  absl::StatusOr<double> rate =
      ExactMatchRate({"ls -l", "pwd", "cat a", "echo x"}, {"ls  -l", "pwd\n", "cat b", "echo y"});
  ASSERT_THAT(rate, IsOk());
  EXPECT_DOUBLE_EQ(*rate, 0.5);
}

TEST(ExactMatchRateTest, RejectsEmptyAndMismatchedInput) {
  EXPECT_THAT(ExactMatchRate({}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ExactMatchRate({"a"}, {"a", "b"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------------------------
// Latency percentiles (linear interpolation, type 7). Expected values computed by hand from
// h = (n - 1) * q.

LatencySummary SummarizeOrDie(std::vector<double> seconds) {
  absl::StatusOr<LatencySummary> summary = SummarizeLatencies(std::move(seconds));
  EXPECT_THAT(summary, IsOk());
  return summary.ok() ? *summary : LatencySummary{};
}

// n = 10: p50 at h = 4.5 -> (5 + 6) / 2; p90 at h = 8.1 -> 9 + 0.1; p99 at h = 8.91 -> 9.91.
TEST(SummarizeLatenciesTest, InterpolatesBetweenRanks) {
  const LatencySummary summary = SummarizeOrDie({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_EQ(summary.count, 10u);
  EXPECT_NEAR(summary.p50, 5.5, 1e-12);
  EXPECT_NEAR(summary.p90, 9.1, 1e-12);
  EXPECT_NEAR(summary.p99, 9.91, 1e-12);
  EXPECT_NEAR(summary.mean, 5.5, 1e-12);
}

TEST(SummarizeLatenciesTest, InputOrderDoesNotMatter) {
  const LatencySummary summary = SummarizeOrDie({10, 3, 7, 1, 9, 2, 8, 6, 4, 5});
  EXPECT_NEAR(summary.p50, 5.5, 1e-12);
  EXPECT_NEAR(summary.p90, 9.1, 1e-12);
  EXPECT_NEAR(summary.p99, 9.91, 1e-12);
}

// 101 evenly spaced samples: every percentile lands exactly on a sample.
TEST(SummarizeLatenciesTest, HundredAndOneSamplesHitPercentilesExactly) {
  std::vector<double> seconds;
  for (int i = 100; i >= 0; --i) seconds.push_back(i);
  const LatencySummary summary = SummarizeOrDie(seconds);
  EXPECT_DOUBLE_EQ(summary.p50, 50.0);
  EXPECT_DOUBLE_EQ(summary.p90, 90.0);
  EXPECT_DOUBLE_EQ(summary.p99, 99.0);
  EXPECT_DOUBLE_EQ(summary.mean, 50.0);
  EXPECT_EQ(summary.count, 101u);
}

// n = 2: h = q, so p50 = 0.15, p90 = 0.1 + 0.9 * 0.1, p99 = 0.1 + 0.99 * 0.1.
TEST(SummarizeLatenciesTest, TwoSamples) {
  const LatencySummary summary = SummarizeOrDie({0.2, 0.1});
  EXPECT_NEAR(summary.p50, 0.15, 1e-15);
  EXPECT_NEAR(summary.p90, 0.19, 1e-15);
  EXPECT_NEAR(summary.p99, 0.199, 1e-15);
  EXPECT_NEAR(summary.mean, 0.15, 1e-15);
}

// A tail outlier moves the mean and p99 but not the median: p99 at h = 3.96 -> 1 + 0.96 * 99.
TEST(SummarizeLatenciesTest, OutlierAffectsTailNotMedian) {
  const LatencySummary summary = SummarizeOrDie({1, 1, 1, 1, 100});
  EXPECT_DOUBLE_EQ(summary.p50, 1.0);
  EXPECT_NEAR(summary.p99, 1.0 + 0.96 * 99.0, 1e-12);
  EXPECT_NEAR(summary.mean, 104.0 / 5.0, 1e-12);
}

TEST(SummarizeLatenciesTest, SingleSampleIsEveryPercentile) {
  const LatencySummary summary = SummarizeOrDie({0.25});
  EXPECT_EQ(summary.count, 1u);
  EXPECT_EQ(summary.p50, 0.25);
  EXPECT_EQ(summary.p90, 0.25);
  EXPECT_EQ(summary.p99, 0.25);
  EXPECT_EQ(summary.mean, 0.25);
}

TEST(SummarizeLatenciesTest, EmptyInputGivesZeroCount) {
  const LatencySummary summary = SummarizeOrDie({});
  EXPECT_EQ(summary.count, 0u);
  EXPECT_EQ(summary.p50, 0.0);
  EXPECT_EQ(summary.p99, 0.0);
  EXPECT_EQ(summary.mean, 0.0);
}

TEST(SummarizeLatenciesTest, RejectsImpossibleSamples) {
  for (double bad : {-0.001, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    EXPECT_THAT(SummarizeLatencies({0.1, bad, 0.2}), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(SummarizeLatenciesTest, PercentilesAreOrderedAndWithinRange) {
  std::vector<double> seconds;
  for (int i = 0; i < 1000; ++i) seconds.push_back(std::fmod(i * 0.7371, 3.0));
  const LatencySummary summary = SummarizeOrDie(seconds);
  EXPECT_LE(summary.p50, summary.p90);
  EXPECT_LE(summary.p90, summary.p99);
  EXPECT_GE(summary.p50, 0.0);
  EXPECT_LT(summary.p99, 3.0);
}

// ---------------------------------------------------------------------------------------------
// Cost.

TEST(CostUsdTest, ScalesPerMillionTokens) {
  const Prices prices{3.0, 15.0};
  absl::StatusOr<double> cost = CostUsd(prices, 1'000'000, 500'000);
  ASSERT_THAT(cost, IsOk());
  EXPECT_NEAR(*cost, 3.0 + 7.5, 1e-12);

  cost = CostUsd(prices, 1234, 0);
  ASSERT_THAT(cost, IsOk());
  EXPECT_NEAR(*cost, 0.003702, 1e-15);

  cost = CostUsd(prices, 0, 0);
  ASSERT_THAT(cost, IsOk());
  EXPECT_EQ(*cost, 0.0);
}

// The point of prompt internalization: dropping a 2,000-token prompt from 100 requests of
// 50 input and 20 output tokens saves exactly 200,000 input tokens.
TEST(CostUsdTest, ShorterPromptCostsLess) {
  const Prices prices{0.5, 1.5};
  const absl::StatusOr<double> with_prompt = CostUsd(prices, 100 * 2050, 100 * 20);
  const absl::StatusOr<double> internalized = CostUsd(prices, 100 * 50, 100 * 20);
  ASSERT_TRUE(with_prompt.ok() && internalized.ok());
  EXPECT_NEAR(*with_prompt - *internalized, 200'000 * 0.5 / 1e6, 1e-12);
}

TEST(CostUsdTest, RejectsInvalidInput) {
  EXPECT_THAT(CostUsd(Prices{1, 1}, -1, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CostUsd(Prices{1, 1}, 0, -5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CostUsd(Prices{-1, 1}, 1, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CostUsd(Prices{1, std::numeric_limits<double>::quiet_NaN()}, 1, 1), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace promptintern
