// Token surprisal under a causal LM (the "self-information" of LLMLingua / Selective Context):
// -log p(token_i | prefix, token_0 .. token_{i-1}), where the prefix is what every prompt of the
// model starts with (the tokenizer's prompt prefix: BOS for Llama and Gemma, nothing for Qwen).
// Predictable tokens carry little information and are the first a compressor drops.
//
// A token with no context at all (the first of a window when the prefix is empty) has no
// prediction to be scored by: it gets +infinity, so a compressor keeps it, the way LLMLingua
// keeps the tokens it cannot score.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/compress/token_selection.h"

namespace promptintern {

class DecoderModel;

// One score per id. Sequences longer than the model's context are scored in consecutive windows,
// each starting again from the prefix.
absl::StatusOr<std::vector<float>> TokenSurprisal(const DecoderModel& model, const std::vector<int>& prefix,
                                                  const std::vector<int>& ids);

// A SurprisalFn bound to `model` (which must outlive it) and `prefix`.
SurprisalFn ModelSurprisal(const DecoderModel& model, std::vector<int> prefix);

}  // namespace promptintern
