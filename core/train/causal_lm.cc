#include "core/train/causal_lm.h"

#include <torch/torch.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/model/decoder.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {

absl::StatusOr<TrainingBatch> CollateBatch(const std::vector<TrainingExample>& examples, int pad_id,
                                           int64_t max_length) {
  if (examples.empty()) return absl::InvalidArgumentError("empty training batch");
  if (max_length < 2) return absl::InvalidArgumentError("max_length must be at least 2");
  std::vector<std::vector<int>> sequences;
  std::vector<size_t> completion_starts;
  int64_t longest = 0;
  for (const TrainingExample& example : examples) {
    if (example.completion_ids.empty()) return absl::InvalidArgumentError("training example with an empty completion");
    if (example.kept_prefix < 0 || example.kept_prefix > static_cast<int>(example.prompt_ids.size())) {
      return absl::InvalidArgumentError(absl::StrCat("kept_prefix ", example.kept_prefix, " is outside a prompt of ",
                                                     example.prompt_ids.size(), " tokens"));
    }
    const int64_t kept = example.kept_prefix;
    if (kept + 2 > max_length) {
      return absl::InvalidArgumentError(absl::StrCat("max_length ", max_length, " leaves no room after a prompt prefix of ",
                                                     kept, " tokens"));
    }
    std::vector<int> prompt = example.prompt_ids;
    std::vector<int> completion = example.completion_ids;
    const int64_t overflow = static_cast<int64_t>(prompt.size() + completion.size()) - max_length;
    if (overflow > 0) {
      // Droppable: the prompt between the kept prefix and its last token.
      const int64_t droppable = std::max<int64_t>(0, static_cast<int64_t>(prompt.size()) - kept - 1);
      const int64_t from_prompt = std::min<int64_t>(overflow, droppable);
      prompt.erase(prompt.begin() + kept, prompt.begin() + kept + from_prompt);
      completion.resize(completion.size() - static_cast<size_t>(overflow - from_prompt));
    }
    std::vector<int> sequence = prompt;
    sequence.insert(sequence.end(), completion.begin(), completion.end());
    completion_starts.push_back(prompt.size());
    longest = std::max<int64_t>(longest, sequence.size());
    sequences.push_back(std::move(sequence));
  }
  const int64_t batch = static_cast<int64_t>(examples.size());
  std::vector<int64_t> tokens(batch * longest, std::max(pad_id, 0));
  std::vector<int64_t> targets(batch * longest, kIgnoreTarget);
  TrainingBatch result;
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int>& sequence = sequences[b];
    for (size_t t = 0; t < sequence.size(); ++t) tokens[b * longest + t] = sequence[t];
    // Position t predicts token t + 1; it is a target when t + 1 is part of the completion.
    for (size_t t = std::max<size_t>(completion_starts[b], 1); t < sequence.size(); ++t) {
      targets[b * longest + t - 1] = sequence[t];
      ++result.target_tokens;
    }
    result.tokens_in_batch += static_cast<int64_t>(sequence.size());
  }
  ASSIGN_OR_RETURN(result.tokens, CallTorch("collating tokens", [&] {
                     return at::tensor(tokens, at::kLong).view({batch, longest});
                   }));
  ASSIGN_OR_RETURN(result.targets, CallTorch("collating targets", [&] {
                     return at::tensor(targets, at::kLong).view({batch, longest});
                   }));
  return result;
}

absl::StatusOr<at::Tensor> CausalLmLossSum(const DecoderModel& model, const TrainingBatch& batch) {
  const int64_t rows = batch.tokens.size(0);
  ASSIGN_OR_RETURN(at::Tensor hidden, model.Forward(batch.tokens, std::vector<int64_t>(rows, 0), nullptr));
  ASSIGN_OR_RETURN(at::Tensor logits, model.Logits(hidden));
  return CallTorch("causal-LM loss", [&] {
    const int64_t vocab = logits.size(-1);
    return at::cross_entropy_loss(logits.reshape({-1, vocab}), batch.targets.reshape({-1}), /*weight=*/{},
                                  at::Reduction::Sum, kIgnoreTarget);
  });
}

}  // namespace promptintern
