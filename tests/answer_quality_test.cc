#include "core/eval/answer_quality.h"

#include <cmath>

#include "core/task/task_kind.h"
#include "gtest/gtest.h"

namespace promptintern {
namespace {

TEST(AnswerQualityTest, ConfidenceIsTheGeometricMeanTokenProbability) {
  const AnswerConfidence confidence = ConfidenceOf({std::log(0.5f), std::log(0.125f)});
  EXPECT_NEAR(confidence.mean_logprob, std::log(0.25), 1e-6);
  EXPECT_NEAR(confidence.min_logprob, std::log(0.125), 1e-6);
  EXPECT_NEAR(confidence.score, 0.25, 1e-6);
  const AnswerConfidence nothing = ConfidenceOf({});
  EXPECT_EQ(nothing.score, 1.0);
  EXPECT_EQ(nothing.min_logprob, 0.0);
}

TEST(AnswerQualityTest, AgreementIsExactMatchAndNormalisedEditSimilarity) {
  AnswerAgreement same = CompareAnswers("ls  -l\n", "ls -l");
  EXPECT_TRUE(same.exact_match);
  EXPECT_EQ(same.edit_similarity, 1.0);
  // One substitution in five bytes.
  AnswerAgreement close = CompareAnswers("ls -L", "ls -l");
  EXPECT_FALSE(close.exact_match);
  EXPECT_DOUBLE_EQ(close.edit_similarity, 0.8);
  // kitten -> sitting: 3 edits over 7.
  EXPECT_DOUBLE_EQ(CompareAnswers("kitten", "sitting").edit_similarity, 1.0 - 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(CompareAnswers("", "abc").edit_similarity, 0.0);
  EXPECT_DOUBLE_EQ(CompareAnswers("", " ").edit_similarity, 1.0);
  EXPECT_TRUE(CompareAnswers("", " ").exact_match);
  EXPECT_TRUE(same.task_metric.empty());  // no task metric asked for
}

TEST(AnswerQualityTest, TheTasksOwnMetricJoinsTheComparison) {
  const TaskMetric* code_match = MetricOf(*FindTaskKind("mbpp"));
  const AnswerAgreement spaced = CompareAnswers("def f(a,b): pass", "def f(a, b):\n    pass", code_match);
  EXPECT_FALSE(spaced.exact_match);
  EXPECT_EQ(spaced.task_metric, "code_match");
  EXPECT_EQ(spaced.task_score, 1.0);
  EXPECT_EQ(CompareAnswers("def f(a): pass", "def g(a): pass", code_match).task_score, 0.0);
}

}  // namespace
}  // namespace promptintern
