#include "core/eval/answer_quality.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/eval/metrics.h"
#include "core/task/task_kind.h"

namespace promptintern {

AnswerConfidence ConfidenceOf(const std::vector<float>& logprobs) {
  AnswerConfidence confidence;
  if (logprobs.empty()) return confidence;
  double sum = 0.0;
  double min = 0.0;
  for (const float logprob : logprobs) {
    sum += logprob;
    min = std::min(min, static_cast<double>(logprob));
  }
  confidence.mean_logprob = sum / static_cast<double>(logprobs.size());
  confidence.min_logprob = min;
  confidence.score = std::exp(confidence.mean_logprob);
  return confidence;
}

AnswerAgreement CompareAnswers(std::string_view answer, std::string_view reference, const TaskMetric* task_metric) {
  const std::string a = NormalizeWhitespace(answer);
  const std::string b = NormalizeWhitespace(reference);
  AnswerAgreement agreement;
  agreement.exact_match = a == b;
  if (task_metric != nullptr) {
    agreement.task_metric = task_metric->name;
    agreement.task_score = task_metric->score(a, b);
  }
  if (a.empty() && b.empty()) {
    agreement.edit_similarity = 1.0;
    return agreement;
  }
  // One row of the Levenshtein table at a time: O(|a| |b|) time, O(|b|) memory; answers are bounded
  // by max_tokens.
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  agreement.edit_similarity =
      1.0 - static_cast<double>(row[b.size()]) / static_cast<double>(std::max(a.size(), b.size()));
  return agreement;
}

}  // namespace promptintern
