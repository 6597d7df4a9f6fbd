// Picks the next token from a row of logits: greedy, or temperature / top-k / top-p sampling from
// a per-request random stream, so the same seed gives the same text whatever else is batched.
#pragma once

#include <cstdint>
#include <random>

#include "absl/status/status.h"

namespace promptintern {

struct SamplingParams {
  // 0 means greedy (argmax; the lowest id wins a tie).
  double temperature = 0.0;
  // 0 means no top-k cut.
  int top_k = 0;
  // 1 means no nucleus cut.
  double top_p = 1.0;
  uint64_t seed = 0;

  absl::Status Validate() const;
};

// log softmax(logits)[token], computed stably (max subtracted first).
float LogProbability(const float* logits, int vocab_size, int token);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), random_(params.seed) {}
  // `logits` has `vocab_size` entries.
  int Sample(const float* logits, int vocab_size);

 private:
  SamplingParams params_;
  std::mt19937_64 random_;
};

}  // namespace promptintern
