#include "core/compress/token_selection.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/util/random.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

using Indices = std::vector<size_t>;

const std::vector<double>& Ratios() {
  static const std::vector<double> ratios = {0.0,  0.05, 0.1, 1.0 / 3, 0.25, 0.3, 0.5,
                                             0.6,  2.0 / 3, 0.7, 0.75, 0.9, 0.99, 1.0,
                                             std::sqrt(0.5)};
  return ratios;
}

// A deterministic score stream with frequent exact ties.
std::vector<float> Scores(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> scores(n);
  for (float& score : scores) score = static_cast<float>(rng.UniformBelow(8)) * 0.5f;
  return scores;
}

bool StrictlyAscendingInRange(const Indices& indices, size_t n) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= n || (i > 0 && indices[i] <= indices[i - 1])) return false;
  }
  return true;
}

bool IsInvalidArgumentNaming(const absl::Status& status, const std::string& text) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         std::string(status.message()).find(text) != std::string::npos;
}

TEST(KeepCountTest, RoundsHalfUp) {
  EXPECT_EQ(*KeepCount(10, 0.5), 5u);
  EXPECT_EQ(*KeepCount(5, 0.5), 3u);  // 2.5
  EXPECT_EQ(*KeepCount(3, 0.5), 2u);  // 1.5
  EXPECT_EQ(*KeepCount(10, 0.3), 3u);
  EXPECT_EQ(*KeepCount(1, 0.4), 0u);
  EXPECT_EQ(*KeepCount(7, 1.0), 7u);
  EXPECT_EQ(*KeepCount(7, 0.0), 0u);
  EXPECT_EQ(*KeepCount(0, 0.7), 0u);
}

TEST(KeepCountTest, InvalidRatiosAreRejected) {
  for (double bad : {-0.1, 1.0001, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_TRUE(IsInvalidArgumentNaming(KeepCount(10, bad).status(), "keep_ratio")) << bad;
    EXPECT_FALSE(SelectBySelfInformation({1.0f, 2.0f}, bad).ok()) << bad;
    EXPECT_FALSE(RandomSelection(2, bad, 1).ok()) << bad;
  }
  EXPECT_TRUE(IsInvalidArgumentNaming(KeepCount(10, 1.5).status(),
                                      "keep_ratio: 1.5 is outside [0, 1]"));
}

TEST(SelfInformationTest, DropsTheLowestSurprisalTokens) {
  const std::vector<float> surprisal = {0.5f, 3.0f, 0.1f, 2.0f, 2.5f, 0.7f};
  EXPECT_EQ(*SelectBySelfInformation(surprisal, 0.5), (Indices{1, 3, 4}));
  EXPECT_EQ(*SelectBySelfInformation(surprisal, 0.34), (Indices{1, 4}));  // 2.04 -> 2
  EXPECT_EQ(*SelectBySelfInformation(surprisal, 5.0 / 6), (Indices{0, 1, 3, 4, 5}));
}

TEST(SelfInformationTest, TiesKeepTheEarlierToken) {
  EXPECT_EQ(*SelectBySelfInformation({1.0f, 1.0f, 1.0f, 1.0f}, 0.5), (Indices{0, 1}));
  EXPECT_EQ(*SelectBySelfInformation({2.0f, 1.0f, 2.0f, 1.0f, 1.0f}, 0.6), (Indices{0, 1, 2}));
  EXPECT_EQ(*SelectBySelfInformation({1.0f, 2.0f, 1.0f, 1.0f, 2.0f}, 0.6), (Indices{0, 1, 4}));
}

TEST(SelfInformationTest, EdgeRatiosAndInfinities) {
  const std::vector<float> surprisal = {0.3f, 0.2f, 0.1f};
  EXPECT_EQ(*SelectBySelfInformation(surprisal, 1.0), (Indices{0, 1, 2}));
  EXPECT_TRUE(SelectBySelfInformation(surprisal, 0.0)->empty());
  EXPECT_TRUE(SelectBySelfInformation({}, 0.5)->empty());
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(*SelectBySelfInformation({-inf, 0.0f, inf}, 1.0 / 3), (Indices{2}));
}

TEST(SelfInformationTest, NanScoreIsRejected) {
  const absl::StatusOr<Indices> kept = SelectBySelfInformation({1.0f, std::nanf(""), 2.0f}, 0.5);
  EXPECT_TRUE(IsInvalidArgumentNaming(kept.status(), "surprisal[1]"));
}

// Against a direct reference: stable-sort by descending score, keep the first count.
TEST(SelfInformationTest, MatchesReferenceAndMeetsRatioForManySizes) {
  for (size_t n = 0; n <= 120; ++n) {
    const std::vector<float> surprisal = Scores(n, n);
    for (double ratio : Ratios()) {
      const absl::StatusOr<Indices> kept = SelectBySelfInformation(surprisal, ratio);
      ASSERT_THAT(kept, IsOk());
      EXPECT_LE(std::abs(static_cast<double>(kept->size()) - ratio * n), 0.5 + 1e-9)
          << "n=" << n << " r=" << ratio;
      ASSERT_TRUE(StrictlyAscendingInRange(*kept, n));

      Indices reference(n);
      std::iota(reference.begin(), reference.end(), size_t{0});
      std::stable_sort(reference.begin(), reference.end(),
                       [&](size_t a, size_t b) { return surprisal[a] > surprisal[b]; });
      reference.resize(kept->size());
      std::sort(reference.begin(), reference.end());
      EXPECT_EQ(*kept, reference) << "n=" << n << " r=" << ratio;
    }
  }
}

TEST(SelfInformationTest, EveryKeptTokenIsAtLeastAsSurprisingAsEveryDropped) {
  const std::vector<float> surprisal = Scores(97, 42);
  const Indices kept = *SelectBySelfInformation(surprisal, 0.4);
  std::vector<bool> is_kept(surprisal.size(), false);
  for (size_t index : kept) is_kept[index] = true;
  float min_kept = std::numeric_limits<float>::infinity();
  float max_dropped = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < surprisal.size(); ++i) {
    if (is_kept[i]) min_kept = std::min(min_kept, surprisal[i]);
    else max_dropped = std::max(max_dropped, surprisal[i]);
  }
  EXPECT_GE(min_kept, max_dropped);
}

TEST(SelectionSplitMix64Test, MatchesReferenceStream) {
  SplitMix64 rng(1234567);
  EXPECT_EQ(rng.Next(), 6457827717110365317ULL);
  EXPECT_EQ(rng.Next(), 3203168211198807973ULL);
  EXPECT_EQ(rng.Next(), 9817491932198370423ULL);
  EXPECT_EQ(SplitMix64(0).Next(), 0xE220A8397B1DCDAFULL);
}

TEST(RandomSelectionTest, MeetsRatioAndIsSortedForManySizes) {
  for (size_t n = 0; n <= 120; ++n) {
    for (double ratio : Ratios()) {
      const absl::StatusOr<Indices> kept = RandomSelection(n, ratio, 7 * n + 1);
      ASSERT_THAT(kept, IsOk());
      EXPECT_LE(std::abs(static_cast<double>(kept->size()) - ratio * n), 0.5 + 1e-9);
      EXPECT_TRUE(StrictlyAscendingInRange(*kept, n));
    }
  }
  EXPECT_EQ(*RandomSelection(5, 1.0, 3), (Indices{0, 1, 2, 3, 4}));
  EXPECT_TRUE(RandomSelection(5, 0.0, 3)->empty());
}

TEST(RandomSelectionTest, DeterministicBySeed) {
  EXPECT_EQ(*RandomSelection(100, 0.5, 11), *RandomSelection(100, 0.5, 11));
  EXPECT_NE(*RandomSelection(100, 0.5, 11), *RandomSelection(100, 0.5, 12));
}

TEST(RandomSelectionTest, RoughlyUniformAcrossSeeds) {
  constexpr int kSeeds = 2000;
  std::vector<int> hits(10, 0);
  for (int seed = 0; seed < kSeeds; ++seed) {
    const Indices kept = *RandomSelection(10, 0.3, seed);
    for (size_t index : kept) ++hits[index];
  }
  // Each index is kept with probability 0.3: 600 expected, standard deviation about 20.
  for (int count : hits) {
    EXPECT_GT(count, 500);
    EXPECT_LT(count, 700);
  }
}

TEST(TemplateCompressorTest, NoCompressionKeepsEverythingForAnyValidRatio) {
  NoCompression none;
  EXPECT_EQ(none.name(), "none");
  const std::vector<int> tokens = {5, 9, 2};
  EXPECT_EQ(*none.Compress(tokens, 0.0), tokens);
  EXPECT_EQ(*none.Compress(tokens, 0.5), tokens);
  EXPECT_EQ(*none.Compress(tokens, 1.0), tokens);
  EXPECT_FALSE(none.Compress(tokens, 2.0).ok());
}

TEST(TemplateCompressorTest, RandomCompressionGathersTheSelectedTokens) {
  RandomCompression random(99);
  EXPECT_EQ(random.name(), "random");
  std::vector<int> tokens(40);
  std::iota(tokens.begin(), tokens.end(), 1000);
  const Indices kept = *RandomSelection(40, 0.25, 99);
  std::vector<int> expected;
  for (size_t index : kept) expected.push_back(tokens[index]);
  EXPECT_EQ(*random.Compress(tokens, 0.25), expected);
  EXPECT_EQ(*random.Compress(tokens, 0.25), expected);  // same seed every call
  EXPECT_FALSE(random.Compress(tokens, -1.0).ok());
}

TEST(TemplateCompressorTest, SelfInformationUsesTheSurprisalFunction) {
  int calls = 0;
  // Pretend the surprisal of a token is its id.
  SelfInformationCompression compressor(
      [&calls](const std::vector<int>& ids) -> absl::StatusOr<std::vector<float>> {
        ++calls;
        return std::vector<float>(ids.begin(), ids.end());
      });
  EXPECT_EQ(compressor.name(), "self_information");
  const std::vector<int> tokens = {10, 5, 30, 1, 20};
  EXPECT_EQ(*compressor.Compress(tokens, 0.6), (std::vector<int>{10, 30, 20}));
  EXPECT_EQ(calls, 1);
  // The endpoints are known without the model.
  EXPECT_EQ(*compressor.Compress(tokens, 1.0), tokens);
  EXPECT_TRUE(compressor.Compress(tokens, 0.0)->empty());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(compressor.Compress(tokens, NAN).ok());
}

TEST(TemplateCompressorTest, SelfInformationReportsSurprisalFailures) {
  SelfInformationCompression short_scores(
      [](const std::vector<int>&) -> absl::StatusOr<std::vector<float>> {
        return std::vector<float>{1.0f};
      });
  EXPECT_THAT(short_scores.Compress({1, 2, 3}, 0.5), StatusIs(absl::StatusCode::kInternal));

  SelfInformationCompression failing(
      [](const std::vector<int>&) -> absl::StatusOr<std::vector<float>> {
        return absl::UnavailableError("model not loaded");
      });
  EXPECT_THAT(failing.Compress({1, 2, 3}, 0.5), StatusIs(absl::StatusCode::kUnavailable));

  SelfInformationCompression missing(nullptr);
  EXPECT_THAT(missing.Compress({1, 2, 3}, 0.5), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace promptintern
