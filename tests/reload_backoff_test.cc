// ReloadBackoff: a version that keeps failing is retried after a doubling interval and logged
// once per error (then at most once per log interval); a new version or a recovery resets it.
#include "server/inference/reload_backoff.h"

#include <gtest/gtest.h>

namespace promptintern {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(ReloadBackoffTest, TheSameFailingVersionWaitsLongerAndLongerUpToTheCap) {
  ReloadBackoff backoff(absl::Seconds(1), absl::Seconds(5), absl::Minutes(1));
  const absl::Status broken = absl::DataLossError("bash@2: model.safetensors: hash mismatch");
  absl::Time now = kStart;
  EXPECT_TRUE(backoff.ShouldTry(2, now));
  EXPECT_EQ(backoff.Failed(2, broken, now), "bash@2: model.safetensors: hash mismatch");
  // Retries at +1 s, then +2, +4, +5 (capped), +5.
  for (absl::Duration interval : {absl::Seconds(1), absl::Seconds(2), absl::Seconds(4), absl::Seconds(5), absl::Seconds(5)}) {
    EXPECT_FALSE(backoff.ShouldTry(2, now + interval - absl::Milliseconds(1)));
    now += interval;
    EXPECT_TRUE(backoff.ShouldTry(2, now));
    EXPECT_EQ(backoff.Failed(2, broken, now), "") << "a repeat within the log interval is quiet";
  }
  EXPECT_TRUE(backoff.ShouldTry(3, now)) << "the alias moved: the new version is tried at once";
  EXPECT_TRUE(backoff.ShouldTry(std::nullopt, now)) << "resolving is cheap and always retried";
}

TEST(ReloadBackoffTest, RepeatsAreLoggedOncePerIntervalWithTheirCount) {
  ReloadBackoff backoff(absl::Seconds(1), absl::Seconds(1), absl::Minutes(1));
  const absl::Status missing = absl::NotFoundError("model 'ghost' has no alias 'production'");
  EXPECT_EQ(backoff.Failed(std::nullopt, missing, kStart), "model 'ghost' has no alias 'production'");
  int logged = 0;
  std::string last;
  for (int second = 1; second <= 120; ++second) {
    const std::string line = backoff.Failed(std::nullopt, missing, kStart + absl::Seconds(second));
    if (!line.empty()) {
      ++logged;
      last = line;
    }
  }
  EXPECT_EQ(logged, 2) << "at 60 s and 120 s";
  EXPECT_EQ(last,
            "model 'ghost' has no alias 'production' (still failing: 121 failed attempts since "
            "2023-11-14T22:13:20Z; next attempt in 1s)");
  EXPECT_EQ(backoff.Failed(std::nullopt, absl::UnavailableError("registry unreadable"), kStart + absl::Seconds(121)),
            "registry unreadable")
      << "a different error is news at once";
}

TEST(ReloadBackoffTest, SuccessMakesTheNextFailureNewsAndResetsTheInterval) {
  ReloadBackoff backoff(absl::Seconds(1), absl::Seconds(8), absl::Minutes(1));
  const absl::Status broken = absl::DataLossError("bad");
  for (int i = 0; i < 4; ++i) backoff.Failed(2, broken, kStart);
  backoff.Succeeded();
  EXPECT_TRUE(backoff.ShouldTry(2, kStart));
  EXPECT_EQ(backoff.Failed(2, broken, kStart), "bad");
  EXPECT_TRUE(backoff.ShouldTry(2, kStart + absl::Seconds(1))) << "back to the poll interval";
}

}  // namespace
}  // namespace promptintern
