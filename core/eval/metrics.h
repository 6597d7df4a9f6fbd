// Small evaluation metrics used in reports next to BLEU and the bash structure score: exact
// match, latency percentiles and token cost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace promptintern {

// Removes leading/trailing ASCII whitespace (space, \t, \n, \v, \f, \r) and replaces every
// internal run of it with one space. Other characters, including non-ASCII spaces and case,
// are kept: "ls  -l\n" and "ls -l" are equal, "ls -L" and "ls -l" are not.
std::string NormalizeWhitespace(std::string_view text);

// NormalizeWhitespace(prediction) == NormalizeWhitespace(reference).
bool ExactMatch(std::string_view prediction, std::string_view reference);

// Mean of score(prediction[i], reference[i]) over aligned pairs. InvalidArgument, naming `metric`,
// when the lists are empty or of different lengths.
absl::StatusOr<double> MeanPairScore(const std::string& metric, const std::vector<std::string>& predictions,
                                     const std::vector<std::string>& references,
                                     const std::function<double(std::string_view, std::string_view)>& score);

// Fraction of aligned pairs that ExactMatch, in [0, 1]; errors as MeanPairScore.
absl::StatusOr<double> ExactMatchRate(const std::vector<std::string>& predictions,
                                      const std::vector<std::string>& references);

struct LatencySummary {
  double p50 = 0.0;
  double p90 = 0.0;
  double p99 = 0.0;
  double mean = 0.0;
  size_t count = 0;
};

// Percentiles use linear interpolation between closest ranks (numpy's default "linear",
// Hyndman & Fan type 7): with the samples sorted as x[0] <= ... <= x[n-1], the q-quantile is
// x[k] + f * (x[k+1] - x[k]) where k + f = (n - 1) * q, k integer, 0 <= f < 1. It is
// continuous in the data and equals the median for q = 0.5; with 101 samples 0..100 the
// p-th percentile is exactly p.
// An empty input yields count 0 and all fields 0 (a run with no requests still gets a report).
// InvalidArgument for a negative, NaN or infinite sample: that is a timer bug, not a latency.
absl::StatusOr<LatencySummary> SummarizeLatencies(std::vector<double> seconds);

struct Prices {
  double input_per_million_usd = 0.0;
  double output_per_million_usd = 0.0;
};

// input_tokens * input price / 1e6 + output_tokens * output price / 1e6.
// InvalidArgument for negative token counts or negative/non-finite prices.
absl::StatusOr<double> CostUsd(const Prices& prices, int64_t input_tokens, int64_t output_tokens);

}  // namespace promptintern
