// Token surprisal under a causal LM (the "self-information" of LLMLingua / Selective Context):
// -log p(token_i | BOS, token_0 .. token_{i-1}). Predictable tokens carry little information and
// are the first a compressor drops.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/compress/token_selection.h"

namespace promptintern {

class DecoderModel;

// One score per id. Sequences longer than the model's context are scored in consecutive windows,
// each starting again from BOS.
absl::StatusOr<std::vector<float>> TokenSurprisal(const DecoderModel& model, int bos_id, const std::vector<int>& ids);

// A SurprisalFn bound to `model` (which must outlive it).
SurprisalFn ModelSurprisal(const DecoderModel& model, int bos_id);

}  // namespace promptintern
