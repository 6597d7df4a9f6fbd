// Batched text generation with a KV cache: prompts of different lengths are right-padded into one
// prefill, then every row decodes at its own position until it stops (EOS, a stop string, or
// max_new_tokens). Each row samples from its own seeded stream, so a request gives the same tokens
// alone or in a batch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/generate/sampler.h"

namespace promptintern {

class DecoderModel;
class Tokenizer;

enum class FinishReason { kLength, kEos, kStop };
absl::string_view FinishReasonName(FinishReason reason);

struct GenerationRequest {
  std::vector<int> prompt_ids;  // must be non-empty (start with BOS to generate from nothing)
  int max_new_tokens = 64;
  SamplingParams sampling;
  // Generation stops once the decoded text contains one of these; the text is cut before it.
  std::vector<std::string> stop_strings;
  bool stop_at_eos = true;
};

struct GenerationResult {
  std::vector<int> token_ids;  // generated ids, without the prompt and without EOS
  std::string text;            // decoded token_ids in one call, cut at a stop string
  FinishReason finish_reason = FinishReason::kLength;
};

// Cuts `text` before the earliest occurrence of any (non-empty) stop string; true when one occurs.
bool CutAtStopString(const std::vector<std::string>& stop_strings, std::string* text);

// `tokenizer` may be null when no request has stop strings (text stays empty then).
absl::StatusOr<std::vector<GenerationResult>> Generate(const DecoderModel& model, const Tokenizer* tokenizer,
                                                       const std::vector<GenerationRequest>& requests);

}  // namespace promptintern
