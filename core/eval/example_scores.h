// Per-example scores of one evaluation, so that results can carry confidence intervals and paired
// tests instead of corpus means alone (core/experiment/statistics.h resamples them).
//
// Exact match and the task's own metric (its kind's, if any) are means over examples, so their
// per-example values are enough. Corpus BLEU is not a mean: each example keeps its BLEU sufficient statistics
// (clipped n-gram matches and hypothesis n-grams per order, hypothesis and reference length), whose
// sums over any subset of examples give that subset's corpus BLEU through BleuFromStatistics. Over
// all examples the sums reproduce CorpusBleu exactly.
//
// File format (one reader and one writer, here): JSON Lines, one object per example in evaluation
// order:
//   {"index": 0, "reference": "...", "prediction": "...", "exact": 1,
//    "task_metric": "structure", "structure": 0.75,
//    "bleu": {"matches": [m1, m2, m3, m4], "totals": [t1, t2, t3, t4], "hyp_len": h, "ref_len": r}}
// The task's score sits under its metric's name; a task without a metric has neither key. A line
// with no "task_metric" but a "structure" score was written before task kinds named their metric
// (the bash tasks' only one then) and reads as that.
// The pipeline writes one file per inference mode, <run>/examples/<mode>.jsonl.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eval/bleu.h"

namespace promptintern {

struct TaskMetric;

struct BleuStatistics {
  std::array<int64_t, kBleuMaxNgramOrder> matches{};
  std::array<int64_t, kBleuMaxNgramOrder> totals{};
  int64_t hyp_len = 0;
  int64_t ref_len = 0;

  BleuStatistics& operator+=(const BleuStatistics& other);
  // Corpus BLEU (0..100) of the examples summed into these statistics, sacrebleu's defaults.
  double Score() const;
};

struct ExampleScore {
  std::string reference;   // whitespace-normalized, as scored
  std::string prediction;  // whitespace-normalized, as scored
  double exact = 0.0;      // 0 or 1
  std::string task_metric;  // empty: the task has no metric of its own
  double task_score = 0.0;  // in [0, 1]
  BleuStatistics bleu;
};

// Scores aligned predictions and references (normalized with NormalizeWhitespace first, as the
// evaluation does). InvalidArgument for empty or misaligned lists, or an empty reference.
absl::StatusOr<std::vector<ExampleScore>> ScoreExamples(const std::vector<std::string>& predictions,
                                                        const std::vector<std::string>& references,
                                                        const TaskMetric* task_metric);

std::string ExampleScoresToJsonl(const std::vector<ExampleScore>& scores);
// DataLoss naming `source` and the line for anything that is not a file of this format.
absl::StatusOr<std::vector<ExampleScore>> ExampleScoresFromJsonl(const std::string& text, const std::string& source);

}  // namespace promptintern
