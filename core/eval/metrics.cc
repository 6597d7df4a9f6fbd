#include "core/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace promptintern {
namespace {

bool IsAsciiWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Type-7 quantile of an already sorted, non-empty sample.
double InterpolatedQuantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(position));
  if (lower + 1 >= sorted.size()) return sorted.back();
  const double fraction = position - static_cast<double>(lower);
  return sorted[lower] + fraction * (sorted[lower + 1] - sorted[lower]);
}

}  // namespace

std::string NormalizeWhitespace(std::string_view text) {
  std::string normalized;
  normalized.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (IsAsciiWhitespace(c)) {
      pending_space = !normalized.empty();
      continue;
    }
    if (pending_space) normalized += ' ';
    pending_space = false;
    normalized += c;
  }
  return normalized;
}

bool ExactMatch(std::string_view prediction, std::string_view reference) {
  return NormalizeWhitespace(prediction) == NormalizeWhitespace(reference);
}

absl::StatusOr<double> MeanPairScore(const std::string& metric, const std::vector<std::string>& predictions,
                                     const std::vector<std::string>& references,
                                     const std::function<double(std::string_view, std::string_view)>& score) {
  if (predictions.empty()) return absl::InvalidArgumentError(absl::StrCat(metric, ": no predictions"));
  if (predictions.size() != references.size()) {
    return absl::InvalidArgumentError(absl::StrCat(metric, ": ", predictions.size(), " predictions but ",
                                                   references.size(), " references"));
  }
  double sum = 0.0;
  for (size_t i = 0; i < predictions.size(); ++i) sum += score(predictions[i], references[i]);
  return sum / static_cast<double>(predictions.size());
}

absl::StatusOr<double> ExactMatchRate(const std::vector<std::string>& predictions,
                                      const std::vector<std::string>& references) {
  return MeanPairScore("exact match", predictions, references,
                       [](std::string_view prediction, std::string_view reference) {
                         return ExactMatch(prediction, reference) ? 1.0 : 0.0;
                       });
}

absl::StatusOr<LatencySummary> SummarizeLatencies(std::vector<double> seconds) {
  LatencySummary summary;
  summary.count = seconds.size();
  if (seconds.empty()) return summary;
  // Checked before sorting: NaN breaks std::sort's strict weak ordering.
  for (size_t i = 0; i < seconds.size(); ++i) {
    if (!std::isfinite(seconds[i]) || seconds[i] < 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("latency sample ", i, " is ", seconds[i], " seconds"));
    }
  }
  std::sort(seconds.begin(), seconds.end());
  double sum = 0.0;
  for (double s : seconds) sum += s;
  summary.mean = sum / static_cast<double>(seconds.size());
  summary.p50 = InterpolatedQuantile(seconds, 0.50);
  summary.p90 = InterpolatedQuantile(seconds, 0.90);
  summary.p99 = InterpolatedQuantile(seconds, 0.99);
  return summary;
}

absl::StatusOr<double> CostUsd(const Prices& prices, int64_t input_tokens, int64_t output_tokens) {
  if (input_tokens < 0 || output_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative token count: input ", input_tokens,
                                                   ", output ", output_tokens));
  }
  if (!std::isfinite(prices.input_per_million_usd) || prices.input_per_million_usd < 0.0 ||
      !std::isfinite(prices.output_per_million_usd) || prices.output_per_million_usd < 0.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid prices per million tokens: input ", prices.input_per_million_usd, ", output ",
        prices.output_per_million_usd));
  }
  constexpr double kTokensPerMillion = 1e6;
  return static_cast<double>(input_tokens) * prices.input_per_million_usd / kTokensPerMillion +
         static_cast<double>(output_tokens) * prices.output_per_million_usd / kTokensPerMillion;
}

}  // namespace promptintern
