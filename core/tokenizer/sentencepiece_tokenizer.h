// A SentencePiece model (the tokenizer.model of a Llama 2 checkpoint), and training of a new BPE
// model for tasks that start from scratch. SentencePiece itself is loaded through a dlopen'd
// module (sentencepiece_bridge.h says why); this is the only code that talks to it.
//
// Its conventions: BOS is prepended to prompts when the model has one; control pieces (BOS, EOS,
// PAD) are never text, so Decode drops them whatever SpecialTokens says.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace promptintern {

// A tokenizer from the bytes of a tokenizer.model file; `source` names it in errors.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(std::string model_bytes,
                                                                       const std::string& source);

struct BpeTrainingOptions {
  int vocab_size = 1024;
  // Byte fallback lets any input round-trip even when its characters were never seen.
  bool byte_fallback = true;
  double character_coverage = 1.0;
  int max_sentence_length = 16384;
  // Llama's convention: unk 0, bos 1, eos 2; pad gets 3 so batches can be padded.
  bool add_pad_piece = true;
};

// Trains a SentencePiece BPE model on `corpus` (one sentence or document per entry).
absl::StatusOr<std::unique_ptr<Tokenizer>> TrainBpeTokenizer(const std::vector<std::string>& corpus,
                                                             const BpeTrainingOptions& options);

}  // namespace promptintern
