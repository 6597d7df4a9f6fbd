// Statistics of a method's score over seeds and evaluation examples: mean and standard deviation
// over seeds, a bootstrap confidence interval, and a paired comparison with a baseline evaluated on
// the same examples. Torch-free.
//
// Data. A method is a list of seeds (training runs), each a column of per-example scores over the
// same n evaluation examples. A metric either averages over examples (exact match, a task's metric:
// per-example values) or is a corpus statistic (BLEU: per-example sufficient statistics, summed over
// the examples of a sample and scored once). Metric(s, I) is the metric of seed s over the multiset
// of examples I; Metric(s) is over all n examples.
//
// Point estimate: the mean over the k seeds of Metric(s); "sd" is the sample standard deviation of
// Metric(s) over seeds (0 for one seed).
//
// Bootstrap interval (two-level, percentile). Replicate b draws n example indices uniformly with
// replacement (I_b), then k seeds uniformly with replacement (S_b), and computes
// theta_b = mean over s in S_b of Metric(s, I_b). The interval is the (1-c)/2 and (1+c)/2 quantiles
// of theta_1..theta_B (type-7 interpolation, as numpy's default), c the confidence. Resampling
// examples accounts for the finite test set; resampling seeds for training randomness. With one seed
// the interval reflects the examples only, which understates the uncertainty: reports say how many
// seeds each figure has.
//
// Paired comparison of A with baseline B on the same examples. Replicate b draws one I_b for both
// (the pairing: the same examples), then k_A seeds of A and k_B seeds of B independently (seeds of
// different methods are separate training runs), and computes d_b = theta^A_b - theta^B_b. The
// difference is mean_s Metric_A(s) - mean_s Metric_B(s), its interval the percentile interval of the
// d_b, and the two-sided p-value p = min(1, 2 * min(#{d_b <= 0} + 1, #{d_b >= 0} + 1) / (B + 1)).
// "Distinguishable" means the interval excludes 0 and p < 1 - c; otherwise the report says "not
// distinguishable".
//
// Random numbers: one SplitMix64 stream (core/util/random.h) seeded with the given seed;
// per replicate the n example draws come first, then the seed draws (A's, then B's), each as
// UniformBelow(count). tests/experiment_statistics_test.cc reproduces the numbers with an
// independent Python implementation of exactly this scheme.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eval/example_scores.h"

namespace promptintern {

// One seed's per-example scores for one metric.
class ScoreColumn {
 public:
  static ScoreColumn Mean(std::vector<double> values);
  static ScoreColumn Bleu(std::vector<BleuStatistics> statistics);

  size_t size() const { return is_bleu_ ? bleu_.size() : values_.size(); }
  bool is_bleu() const { return is_bleu_; }
  // The metric over all examples, and over a multiset of example indices (each < size()).
  double Value() const;
  double Value(const std::vector<uint32_t>& examples) const;

 private:
  bool is_bleu_ = false;
  std::vector<double> values_;
  std::vector<BleuStatistics> bleu_;
};

// A method's seeds; every column has the same size and kind.
using SeedColumns = std::vector<ScoreColumn>;

struct BootstrapOptions {
  int resamples = 2000;
  uint64_t seed = 1;
  double confidence = 0.95;
};

struct Estimate {
  double mean = 0.0;
  double sd = 0.0;
  double low = 0.0;
  double high = 0.0;
  int seeds = 0;
  int examples = 0;
};

struct Comparison {
  double difference = 0.0;
  double low = 0.0;
  double high = 0.0;
  double p_value = 1.0;
  bool distinguishable = false;
};

// InvalidArgument for no seeds, no examples, columns of different sizes or kinds, or bad options.
absl::StatusOr<Estimate> EstimateMetric(const SeedColumns& seeds, const BootstrapOptions& options);
absl::StatusOr<Comparison> CompareMethods(const SeedColumns& method, const SeedColumns& baseline,
                                          const BootstrapOptions& options);

// Type-7 quantile of a sample (sorted here), q in [0, 1]; the sample must not be empty.
double Quantile(std::vector<double> sample, double q);
// Sample standard deviation (n - 1 in the denominator); 0 for fewer than two values.
double SampleStandardDeviation(const std::vector<double>& values);

}  // namespace promptintern
