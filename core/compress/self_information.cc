#include "core/compress/self_information.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/model/decoder.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {

absl::StatusOr<std::vector<float>> TokenSurprisal(const DecoderModel& model, const std::vector<int>& prefix,
                                                  const std::vector<int>& ids) {
  const int64_t context = model.config().max_position_embeddings;
  if (static_cast<int64_t>(prefix.size()) >= context) {
    return absl::InvalidArgumentError(absl::StrCat("a prompt prefix of ", prefix.size(),
                                                   " tokens leaves no room in the context of ", context));
  }
  std::vector<float> surprisal;
  surprisal.reserve(ids.size());
  const size_t window = static_cast<size_t>(context) - prefix.size();
  c10::InferenceMode inference_mode;
  for (size_t begin = 0; begin < ids.size(); begin += window) {
    const size_t end = std::min(ids.size(), begin + window);
    std::vector<int64_t> input(prefix.begin(), prefix.end());
    input.insert(input.end(), ids.begin() + begin, ids.begin() + end);
    if (prefix.empty()) surprisal.push_back(std::numeric_limits<float>::infinity());
    if (input.size() < 2) continue;
    ASSIGN_OR_RETURN(const at::Tensor tokens, CallTorch("surprisal input", [&] {
                       return at::tensor(input, at::kLong).view({1, -1});
                     }));
    ASSIGN_OR_RETURN(const at::Tensor hidden, model.Forward(tokens, {0}, nullptr));
    ASSIGN_OR_RETURN(const at::Tensor logits, model.Logits(hidden));
    RETURN_IF_ERROR(CallTorchVoid("surprisal", [&] {
      // Position t predicts token t + 1; the predictions of the window's ids start at the prefix's
      // last position (or, without a prefix, at the first id, which predicts the second).
      const int64_t first = prefix.empty() ? 0 : static_cast<int64_t>(prefix.size()) - 1;
      const int64_t predicted = static_cast<int64_t>(input.size()) - 1 - first;
      const at::Tensor log_probs = at::log_softmax(logits[0].narrow(0, first, predicted), -1);
      const at::Tensor targets = tokens[0].narrow(0, first + 1, predicted).unsqueeze(1);
      const at::Tensor scores = -log_probs.gather(1, targets).squeeze(1).contiguous();
      const float* data = scores.data_ptr<float>();
      surprisal.insert(surprisal.end(), data, data + scores.numel());
    }));
  }
  return surprisal;
}

SurprisalFn ModelSurprisal(const DecoderModel& model, std::vector<int> prefix) {
  return [&model, prefix = std::move(prefix)](const std::vector<int>& ids) {
    return TokenSurprisal(model, prefix, ids);
  };
}

}  // namespace promptintern
