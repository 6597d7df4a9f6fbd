// Batches for causal-LM fine-tuning where only the completion is learned: the prompt tokens are
// context, never targets. Sequences are right-padded; padding is never a target either.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace promptintern {

class DecoderModel;

inline constexpr int64_t kIgnoreTarget = -100;

struct TrainingExample {
  std::vector<int> prompt_ids;      // context (BOS included by the caller if wanted)
  std::vector<int> completion_ids;  // learned (EOS included by the caller if wanted)
  // Leading prompt ids that truncation never drops: the tokenizer's prompt prefix (BOS for Llama
  // and Gemma, none for Qwen), which every prompt the model sees starts with.
  int kept_prefix = 0;
};

struct TrainingBatch {
  at::Tensor tokens;   // [B, S] int64
  at::Tensor targets;  // [B, S] int64: the next token where it is a completion token, else kIgnoreTarget
  int64_t target_tokens = 0;
  int64_t tokens_in_batch = 0;  // real (unpadded) tokens
};

// Sequences longer than max_length lose prompt tokens from the left first (after the kept prefix;
// the last prompt token stays), then completion tokens from the right, so the answer's start
// always stays in view. A completion's first token is a target only when something precedes it.
absl::StatusOr<TrainingBatch> CollateBatch(const std::vector<TrainingExample>& examples, int pad_id,
                                           int64_t max_length);

// Sum over target tokens of -log p(target); a scalar with a graph when grad mode is on.
absl::StatusOr<at::Tensor> CausalLmLossSum(const DecoderModel& model, const TrainingBatch& batch);

}  // namespace promptintern
