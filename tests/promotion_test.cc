#include "core/pipeline/promotion.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

ModeReport Scores(double exact_match, double bleu, double structure) {
  ModeReport report;
  report.requests = 20;
  report.exact_match = exact_match;
  report.bleu = bleu;
  report.task_metric = "structure";
  report.task_score = structure;
  return report;
}

PromoteSpec Gate(const std::string& metric, double max_drop) {
  PromoteSpec promote;
  promote.enabled = true;
  promote.alias = "production";
  promote.metric = metric;
  promote.max_drop = max_drop;
  return promote;
}

TEST(PromotionTest, PassesExactlyWhenTheDropIsWithinTheBound) {
  const ModeReport candidate = Scores(0.50, 40.0, 0.70);
  const ModeReport reference = Scores(0.60, 45.0, 0.70);
  struct Case {
    std::string metric;
    double max_drop;
    bool passed;
    double drop;
  };
  for (const Case& c : {Case{"exact_match", 0.10, true, 0.10}, Case{"exact_match", 0.05, false, 0.10},
                        Case{"bleu", 5.0, true, 5.0}, Case{"bleu", 4.9, false, 5.0},
                        Case{"structure", 0.0, true, 0.0}, Case{"structure", -0.01, false, 0.0}}) {
    absl::StatusOr<PromotionCheck> check = DecidePromotion(Gate(c.metric, c.max_drop), candidate, reference);
    ASSERT_THAT(check, IsOk());
    EXPECT_EQ(check->passed, c.passed) << c.metric << " " << c.max_drop;
    EXPECT_NEAR(check->drop, c.drop, 1e-12) << c.metric;
    EXPECT_EQ(check->examples, 20);
    EXPECT_NE(check->reason.find(c.passed ? "promoted to \"production\"" : "not promoted to \"production\""),
              std::string::npos)
        << check->reason;
    EXPECT_NE(check->reason.find(c.metric), std::string::npos) << check->reason;
  }
}

TEST(PromotionTest, AScoreThatIsNotANumberNeverPasses) {
  absl::StatusOr<PromotionCheck> check =
      DecidePromotion(Gate("bleu", 100.0), Scores(0, std::nan(""), 0), Scores(0, 10.0, 0));
  ASSERT_THAT(check, IsOk());
  EXPECT_FALSE(check->passed);
  EXPECT_NE(check->reason.find("not comparable"), std::string::npos) << check->reason;
}

TEST(PromotionTest, UnknownMetricIsNamed) {
  absl::StatusOr<PromotionCheck> check = DecidePromotion(Gate("rouge", 1.0), Scores(0, 0, 0), Scores(0, 0, 0));
  ASSERT_FALSE(check.ok());
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(check.status().message().find("rouge"), std::string::npos);
}

TEST(PromotionTest, JsonRoundTripsAndNanSurvivesAsNull) {
  absl::StatusOr<PromotionCheck> check =
      DecidePromotion(Gate("bleu", 1.0), Scores(0, std::nan(""), 0), Scores(0, 10.0, 0));
  ASSERT_THAT(check, IsOk());
  const nlohmann::json json = nlohmann::json::parse(PromotionCheckToJson(*check).dump());
  absl::StatusOr<PromotionCheck> back = PromotionCheckFromJson(json);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->alias, "production");
  EXPECT_EQ(back->metric, "bleu");
  EXPECT_TRUE(std::isnan(back->candidate));
  EXPECT_EQ(back->reference_score, 10.0);
  EXPECT_FALSE(back->passed);
  EXPECT_EQ(back->reason, check->reason);
  EXPECT_FALSE(PromotionCheckFromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(PromotionCheckFromJson(nlohmann::json{{"alias", 3}}).ok());
}

}  // namespace
}  // namespace promptintern
