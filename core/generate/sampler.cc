#include "core/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace promptintern {

absl::Status SamplingParams::Validate() const {
  if (!(temperature >= 0.0) || temperature > 100.0 || std::isnan(temperature)) {
    return absl::InvalidArgumentError(absl::StrCat("temperature ", temperature, " is outside [0, 100]"));
  }
  if (top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top_k ", top_k, " must be >= 0"));
  if (!(top_p > 0.0 && top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p ", top_p, " is outside (0, 1]"));
  }
  return absl::OkStatus();
}

float LogProbability(const float* logits, int vocab_size, int token) {
  const float max = *std::max_element(logits, logits + vocab_size);
  double sum = 0.0;
  for (int i = 0; i < vocab_size; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  return static_cast<float>(static_cast<double>(logits[token] - max) - std::log(sum));
}

int Sampler::Sample(const float* logits, int vocab_size) {
  if (params_.temperature == 0.0) {
    return static_cast<int>(std::max_element(logits, logits + vocab_size) - logits);
  }
  std::vector<int> order(vocab_size);
  std::iota(order.begin(), order.end(), 0);
  // Highest logit first; ties by id so the candidate order never depends on the sort.
  auto higher = [logits](int a, int b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  size_t candidates = static_cast<size_t>(vocab_size);
  if (params_.top_k > 0 && params_.top_k < vocab_size) {
    candidates = static_cast<size_t>(params_.top_k);
    std::partial_sort(order.begin(), order.begin() + candidates, order.end(), higher);
  } else {
    std::sort(order.begin(), order.end(), higher);
  }
  std::vector<double> probabilities(candidates);
  const double max_logit = logits[order[0]];
  double total = 0.0;
  for (size_t i = 0; i < candidates; ++i) {
    probabilities[i] = std::exp((logits[order[i]] - max_logit) / params_.temperature);
    total += probabilities[i];
  }
  if (params_.top_p < 1.0) {
    // Smallest prefix whose mass reaches top_p; always at least one token.
    double mass = 0.0;
    size_t keep = 0;
    while (keep < candidates) {
      mass += probabilities[keep] / total;
      ++keep;
      if (mass >= params_.top_p) break;
    }
    candidates = keep;
    total = std::accumulate(probabilities.begin(), probabilities.begin() + candidates, 0.0);
  }
  const double target = std::uniform_real_distribution<double>(0.0, total)(random_);
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates; ++i) {
    cumulative += probabilities[i];
    if (target < cumulative) return order[i];
  }
  return order[candidates - 1];
}

}  // namespace promptintern
