#include "core/compress/self_information.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/model/decoder.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {

absl::StatusOr<std::vector<float>> TokenSurprisal(const DecoderModel& model, int bos_id, const std::vector<int>& ids) {
  std::vector<float> surprisal;
  surprisal.reserve(ids.size());
  const size_t window = static_cast<size_t>(model.config().max_position_embeddings - 1);
  c10::InferenceMode inference_mode;
  for (size_t begin = 0; begin < ids.size(); begin += window) {
    const size_t end = std::min(ids.size(), begin + window);
    std::vector<int64_t> input = {bos_id};
    input.insert(input.end(), ids.begin() + begin, ids.begin() + end);
    ASSIGN_OR_RETURN(const at::Tensor tokens, CallTorch("surprisal input", [&] {
                       return at::tensor(input, at::kLong).view({1, -1});
                     }));
    ASSIGN_OR_RETURN(const at::Tensor hidden, model.Forward(tokens, {0}, nullptr));
    ASSIGN_OR_RETURN(const at::Tensor logits, model.Logits(hidden));
    RETURN_IF_ERROR(CallTorchVoid("surprisal", [&] {
      // Position t predicts token t + 1.
      const at::Tensor log_probs = at::log_softmax(logits[0].narrow(0, 0, input.size() - 1), -1);
      const at::Tensor targets = tokens[0].narrow(0, 1, input.size() - 1).unsqueeze(1);
      const at::Tensor scores = -log_probs.gather(1, targets).squeeze(1).contiguous();
      const float* data = scores.data_ptr<float>();
      surprisal.insert(surprisal.end(), data, data + scores.numel());
    }));
  }
  return surprisal;
}

SurprisalFn ModelSurprisal(const DecoderModel& model, int bos_id) {
  return [&model, bos_id](const std::vector<int>& ids) { return TokenSurprisal(model, bos_id, ids); };
}

}  // namespace promptintern
