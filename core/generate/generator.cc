#include "core/generate/generator.h"

#include <torch/torch.h>

#include <algorithm>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

struct RowState {
  Sampler sampler;
  std::vector<int> generated;
  bool finished = false;
  FinishReason reason = FinishReason::kLength;
  int64_t position = 0;  // where the next token goes
};

absl::Status ValidateRequests(const DecoderModel& model, const Tokenizer* tokenizer,
                              const std::vector<GenerationRequest>& requests) {
  const int64_t context = model.config().max_position_embeddings;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerationRequest& request = requests[i];
    const std::string which = absl::StrCat("request ", i, ": ");
    if (request.prompt_ids.empty()) return absl::InvalidArgumentError(which + "empty prompt");
    if (request.max_new_tokens < 0) return absl::InvalidArgumentError(which + "max_new_tokens must be >= 0");
    if (static_cast<int64_t>(request.prompt_ids.size()) + request.max_new_tokens > context) {
      return absl::OutOfRangeError(absl::StrCat(which, request.prompt_ids.size(), " prompt tokens + ",
                                                request.max_new_tokens, " new tokens exceed the context of ",
                                                context));
    }
    RETURN_IF_ERROR(request.sampling.Validate());
    if (!request.stop_strings.empty() && tokenizer == nullptr) {
      return absl::InvalidArgumentError(which + "stop strings need a tokenizer");
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool CutAtStopString(const std::vector<std::string>& stop_strings, std::string* text) {
  size_t first = std::string::npos;
  for (const std::string& stop : stop_strings) {
    if (!stop.empty()) first = std::min(first, text->find(stop));
  }
  if (first == std::string::npos) return false;
  text->resize(first);
  return true;
}

absl::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
  }
  return "unknown";
}

absl::StatusOr<std::vector<GenerationResult>> Generate(const DecoderModel& model, const Tokenizer* tokenizer,
                                                       const std::vector<GenerationRequest>& requests) {
  if (requests.empty()) return std::vector<GenerationResult>();
  RETURN_IF_ERROR(ValidateRequests(model, tokenizer, requests));
  c10::InferenceMode inference_mode;

  const int64_t batch = static_cast<int64_t>(requests.size());
  const int vocab = static_cast<int>(model.config().vocab_size);
  int64_t longest_prompt = 0;
  int64_t capacity = 0;
  for (const GenerationRequest& request : requests) {
    longest_prompt = std::max<int64_t>(longest_prompt, request.prompt_ids.size());
    capacity = std::max<int64_t>(capacity, request.prompt_ids.size() + request.max_new_tokens);
  }
  capacity = std::max(capacity, longest_prompt);
  ASSIGN_OR_RETURN(KvCache cache, model.AllocateCache(batch, capacity));

  std::vector<RowState> rows;
  std::vector<int64_t> padded(batch * longest_prompt, 0);
  for (int64_t b = 0; b < batch; ++b) {
    const GenerationRequest& request = requests[b];
    rows.push_back(RowState{Sampler(request.sampling)});
    std::copy(request.prompt_ids.begin(), request.prompt_ids.end(), padded.begin() + b * longest_prompt);
    rows[b].position = static_cast<int64_t>(request.prompt_ids.size());
    if (request.max_new_tokens == 0) rows[b].finished = true;
  }

  // Prefill: each row's next-token logits sit at its last real prompt token.
  ASSIGN_OR_RETURN(const at::Tensor prompt_tokens, CallTorch("prefill input", [&] {
                     return at::tensor(padded, at::kLong).view({batch, longest_prompt});
                   }));
  ASSIGN_OR_RETURN(const at::Tensor hidden, model.Forward(prompt_tokens, std::vector<int64_t>(batch, 0), &cache));
  ASSIGN_OR_RETURN(at::Tensor last_hidden, CallTorch("prefill gather", [&] {
                     std::vector<int64_t> last_index(batch);
                     for (int64_t b = 0; b < batch; ++b) last_index[b] = rows[b].position - 1;
                     const at::Tensor index = at::tensor(last_index, at::kLong).view({batch, 1, 1}).expand(
                         {batch, 1, hidden.size(2)});
                     return hidden.gather(1, index);  // [B, 1, hidden]
                   }));
  ASSIGN_OR_RETURN(at::Tensor next_logits, model.Logits(last_hidden));

  while (true) {
    const at::Tensor logits = next_logits.reshape({batch, vocab}).contiguous();
    const float* data = logits.data_ptr<float>();
    std::vector<int64_t> step_tokens(batch, 0);
    std::vector<int64_t> step_positions(batch, 0);
    bool any_active = false;
    for (int64_t b = 0; b < batch; ++b) {
      RowState& row = rows[b];
      const GenerationRequest& request = requests[b];
      if (row.finished) {
        // A finished row still rides along; it writes into its own unused slot.
        step_positions[b] = std::min<int64_t>(row.position, capacity - 1);
        continue;
      }
      const int token = row.sampler.Sample(data + b * vocab, vocab);
      if (request.stop_at_eos && model.config().is_eos(token)) {
        row.finished = true;
        row.reason = FinishReason::kEos;
      } else {
        row.generated.push_back(token);
        if (!request.stop_strings.empty()) {
          ASSIGN_OR_RETURN(std::string text, tokenizer->Decode(row.generated, SpecialTokens::kSkip));
          if (CutAtStopString(request.stop_strings, &text)) {
            row.finished = true;
            row.reason = FinishReason::kStop;
          }
        }
        if (!row.finished && static_cast<int>(row.generated.size()) >= request.max_new_tokens) {
          row.finished = true;
          row.reason = FinishReason::kLength;
        }
      }
      step_tokens[b] = token;
      step_positions[b] = std::min<int64_t>(row.position, capacity - 1);
      if (!row.finished) {
        any_active = true;
        ++row.position;
      }
    }
    if (!any_active) break;
    ASSIGN_OR_RETURN(at::Tensor step_input, CallTorch("decode input", [&] {
                       return at::tensor(step_tokens, at::kLong).view({batch, 1});
                     }));
    ASSIGN_OR_RETURN(at::Tensor step_hidden, model.Forward(step_input, step_positions, &cache));
    ASSIGN_OR_RETURN(next_logits, model.Logits(step_hidden));
  }

  std::vector<GenerationResult> results(batch);
  for (int64_t b = 0; b < batch; ++b) {
    results[b].token_ids = rows[b].generated;
    results[b].finish_reason = rows[b].reason;
    if (tokenizer != nullptr) {
      ASSIGN_OR_RETURN(results[b].text, tokenizer->Decode(rows[b].generated, SpecialTokens::kSkip));
      if (rows[b].reason == FinishReason::kStop) CutAtStopString(requests[b].stop_strings, &results[b].text);
    }
  }
  return results;
}

}  // namespace promptintern
