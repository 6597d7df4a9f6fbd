// What a served answer's quality can be judged by without a reference answer: how sure the model
// was of it (from its tokens' log-probabilities), and how close it comes to the answer of another
// path (the full prompt) for the same query. The inference service uses the first to fall back
// to the full prompt and the second to compare live traffic against it (shadow comparison).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace promptintern {

struct TaskMetric;

struct AnswerConfidence {
  double mean_logprob = 0.0;
  double min_logprob = 0.0;
  // exp(mean_logprob), the geometric-mean token probability in (0, 1]; 1 for an answer of no
  // tokens (nothing was doubted).
  double score = 1.0;
};

// Over `logprobs` (natural logs, each <= 0).
AnswerConfidence ConfidenceOf(const std::vector<float>& logprobs);

struct AnswerAgreement {
  bool exact_match = false;    // ExactMatch (whitespace-normalized)
  // 1 - Levenshtein(a, b) / max(|a|, |b|) over the whitespace-normalized bytes, in [0, 1]; 1 when
  // both are empty.
  double edit_similarity = 0.0;
  // The task's own metric (its kind's) of the answer against the reference, when it has one.
  std::string task_metric;
  double task_score = 0.0;
};

AnswerAgreement CompareAnswers(std::string_view answer, std::string_view reference,
                               const TaskMetric* task_metric = nullptr);

}  // namespace promptintern
