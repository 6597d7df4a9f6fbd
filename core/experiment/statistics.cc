#include "core/experiment/statistics.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/random.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

absl::Status Validate(const SeedColumns& seeds, const char* what) {
  if (seeds.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no seeds"));
  const size_t examples = seeds.front().size();
  if (examples == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": no examples"));
  for (size_t s = 0; s < seeds.size(); ++s) {
    if (seeds[s].size() != examples || seeds[s].is_bleu() != seeds.front().is_bleu()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": seed ", s, " has ", seeds[s].size(), " examples, seed 0 has ",
                                                     examples, " (every seed must be scored on the same examples)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const BootstrapOptions& options) {
  if (options.resamples < 1) return absl::InvalidArgumentError("bootstrap: at least one resample");
  if (!(options.confidence > 0.0 && options.confidence < 1.0)) {
    return absl::InvalidArgumentError("bootstrap: the confidence must be in (0, 1)");
  }
  return absl::OkStatus();
}

double MeanOfSeeds(const SeedColumns& seeds) {
  double sum = 0.0;
  for (const ScoreColumn& column : seeds) sum += column.Value();
  return sum / static_cast<double>(seeds.size());
}

// theta_b: draws the seeds of one replicate and averages their metric over `examples`. Each distinct
// seed is scored once per replicate, however often it is drawn.
double ResampledMean(const SeedColumns& seeds, const std::vector<uint32_t>& examples, SplitMix64& random,
                     std::vector<int>& draws) {
  draws.assign(seeds.size(), 0);
  for (size_t i = 0; i < seeds.size(); ++i) ++draws[random.UniformBelow(seeds.size())];
  double sum = 0.0;
  for (size_t s = 0; s < seeds.size(); ++s) {
    if (draws[s] > 0) sum += draws[s] * seeds[s].Value(examples);
  }
  return sum / static_cast<double>(seeds.size());
}

void DrawExamples(size_t count, SplitMix64& random, std::vector<uint32_t>& examples) {
  examples.resize(count);
  for (size_t i = 0; i < count; ++i) examples[i] = static_cast<uint32_t>(random.UniformBelow(count));
}

}  // namespace

ScoreColumn ScoreColumn::Mean(std::vector<double> values) {
  ScoreColumn column;
  column.values_ = std::move(values);
  return column;
}

ScoreColumn ScoreColumn::Bleu(std::vector<BleuStatistics> statistics) {
  ScoreColumn column;
  column.is_bleu_ = true;
  column.bleu_ = std::move(statistics);
  return column;
}

double ScoreColumn::Value() const {
  if (is_bleu_) {
    BleuStatistics total;
    for (const BleuStatistics& example : bleu_) total += example;
    return total.Score();
  }
  double sum = 0.0;
  for (double value : values_) sum += value;
  return sum / static_cast<double>(values_.size());
}

double ScoreColumn::Value(const std::vector<uint32_t>& examples) const {
  if (is_bleu_) {
    BleuStatistics total;
    for (uint32_t index : examples) total += bleu_[index];
    return total.Score();
  }
  double sum = 0.0;
  for (uint32_t index : examples) sum += values_[index];
  return sum / static_cast<double>(examples.size());
}

double Quantile(std::vector<double> sample, double q) {
  std::sort(sample.begin(), sample.end());
  const double position = q * static_cast<double>(sample.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(position));
  if (lower + 1 >= sample.size()) return sample.back();
  return sample[lower] + (position - static_cast<double>(lower)) * (sample[lower + 1] - sample[lower]);
}

double SampleStandardDeviation(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double mean = 0.0;
  for (double value : values) mean += value;
  mean /= static_cast<double>(values.size());
  double squares = 0.0;
  for (double value : values) squares += (value - mean) * (value - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

absl::StatusOr<Estimate> EstimateMetric(const SeedColumns& seeds, const BootstrapOptions& options) {
  RETURN_IF_ERROR(Validate(seeds, "estimate"));
  RETURN_IF_ERROR(ValidateOptions(options));
  Estimate estimate;
  estimate.seeds = static_cast<int>(seeds.size());
  estimate.examples = static_cast<int>(seeds.front().size());
  std::vector<double> per_seed;
  for (const ScoreColumn& column : seeds) per_seed.push_back(column.Value());
  estimate.mean = MeanOfSeeds(seeds);
  estimate.sd = SampleStandardDeviation(per_seed);

  SplitMix64 random(options.seed);
  std::vector<uint32_t> examples;
  std::vector<int> draws;
  std::vector<double> replicates;
  replicates.reserve(options.resamples);
  for (int b = 0; b < options.resamples; ++b) {
    DrawExamples(seeds.front().size(), random, examples);
    replicates.push_back(ResampledMean(seeds, examples, random, draws));
  }
  const double tail = (1.0 - options.confidence) / 2.0;
  estimate.low = Quantile(replicates, tail);
  estimate.high = Quantile(replicates, 1.0 - tail);
  return estimate;
}

absl::StatusOr<Comparison> CompareMethods(const SeedColumns& method, const SeedColumns& baseline,
                                          const BootstrapOptions& options) {
  RETURN_IF_ERROR(Validate(method, "comparison (method)"));
  RETURN_IF_ERROR(Validate(baseline, "comparison (baseline)"));
  RETURN_IF_ERROR(ValidateOptions(options));
  if (method.front().size() != baseline.front().size() || method.front().is_bleu() != baseline.front().is_bleu()) {
    return absl::InvalidArgumentError(absl::StrCat("comparison: the method has ", method.front().size(),
                                                   " examples, the baseline ", baseline.front().size(),
                                                   " (a paired test needs the same examples)"));
  }
  Comparison comparison;
  comparison.difference = MeanOfSeeds(method) - MeanOfSeeds(baseline);
  SplitMix64 random(options.seed);
  std::vector<uint32_t> examples;
  std::vector<int> draws;
  std::vector<double> differences;
  differences.reserve(options.resamples);
  int64_t at_most_zero = 0;
  int64_t at_least_zero = 0;
  for (int b = 0; b < options.resamples; ++b) {
    DrawExamples(method.front().size(), random, examples);
    const double a = ResampledMean(method, examples, random, draws);
    const double d = a - ResampledMean(baseline, examples, random, draws);
    differences.push_back(d);
    at_most_zero += d <= 0.0 ? 1 : 0;
    at_least_zero += d >= 0.0 ? 1 : 0;
  }
  const double tail = (1.0 - options.confidence) / 2.0;
  comparison.low = Quantile(differences, tail);
  comparison.high = Quantile(differences, 1.0 - tail);
  comparison.p_value = std::min(1.0, 2.0 * static_cast<double>(std::min(at_most_zero, at_least_zero) + 1) /
                                         static_cast<double>(options.resamples + 1));
  comparison.distinguishable =
      (comparison.low > 0.0 || comparison.high < 0.0) && comparison.p_value < 1.0 - options.confidence;
  return comparison;
}

}  // namespace promptintern
