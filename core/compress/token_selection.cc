#include "core/compress/token_selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/util/random.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

std::vector<int> Gather(const std::vector<int>& token_ids, const std::vector<size_t>& indices) {
  std::vector<int> kept;
  kept.reserve(indices.size());
  for (size_t index : indices) kept.push_back(token_ids[index]);
  return kept;
}

}  // namespace

absl::Status ValidateKeepRatio(double keep_ratio) {
  if (!(keep_ratio >= 0.0 && keep_ratio <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("keep_ratio: %g is outside [0, 1]", keep_ratio));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> KeepCount(size_t n, double keep_ratio) {
  RETURN_IF_ERROR(ValidateKeepRatio(keep_ratio));
  const double count = std::floor(keep_ratio * static_cast<double>(n) + 0.5);
  // r <= 1 already bounds the product by n up to rounding; the clamp removes the "up to".
  return std::min(n, static_cast<size_t>(count));
}

absl::StatusOr<std::vector<size_t>> SelectBySelfInformation(const std::vector<float>& surprisal,
                                                            double keep_ratio) {
  const size_t n = surprisal.size();
  ASSIGN_OR_RETURN(const size_t keep, KeepCount(n, keep_ratio));
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(surprisal[i])) {
      return absl::InvalidArgumentError(absl::StrFormat("surprisal[%d] is NaN", i));
    }
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  const auto more_informative = [&surprisal](size_t a, size_t b) {
    if (surprisal[a] != surprisal[b]) return surprisal[a] > surprisal[b];
    return a < b;
  };
  std::nth_element(order.begin(), order.begin() + keep, order.end(), more_informative);
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

absl::StatusOr<std::vector<size_t>> RandomSelection(size_t n, double keep_ratio,
                                                    uint64_t seed) {
  ASSIGN_OR_RETURN(const size_t keep, KeepCount(n, keep_ratio));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // A partial Fisher-Yates shuffle: the first `keep` slots become a uniform sample.
  SplitMix64 rng(seed);
  for (size_t i = 0; i < keep; ++i) {
    const size_t j = i + static_cast<size_t>(rng.UniformBelow(n - i));
    std::swap(order[i], order[j]);
  }
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

absl::StatusOr<std::vector<int>> NoCompression::Compress(const std::vector<int>& token_ids,
                                                         double keep_ratio) {
  RETURN_IF_ERROR(ValidateKeepRatio(keep_ratio));
  return token_ids;
}

absl::StatusOr<std::vector<int>> RandomCompression::Compress(const std::vector<int>& token_ids,
                                                             double keep_ratio) {
  ASSIGN_OR_RETURN(std::vector<size_t> kept,
                   RandomSelection(token_ids.size(), keep_ratio, seed_));
  return Gather(token_ids, kept);
}

absl::StatusOr<std::vector<int>> SelfInformationCompression::Compress(
    const std::vector<int>& token_ids, double keep_ratio) {
  ASSIGN_OR_RETURN(const size_t keep, KeepCount(token_ids.size(), keep_ratio));
  if (keep == token_ids.size()) return token_ids;
  if (keep == 0) return std::vector<int>{};
  if (!surprisal_) {
    return absl::FailedPreconditionError(
        "SelfInformationCompression: no surprisal function was provided");
  }
  ASSIGN_OR_RETURN(std::vector<float> surprisal, surprisal_(token_ids));
  if (surprisal.size() != token_ids.size()) {
    return absl::InternalError(absl::StrFormat(
        "SelfInformationCompression: the surprisal function returned %d scores for %d tokens",
        surprisal.size(), token_ids.size()));
  }
  ASSIGN_OR_RETURN(std::vector<size_t> kept, SelectBySelfInformation(surprisal, keep_ratio));
  return Gather(token_ids, kept);
}

}  // namespace promptintern
