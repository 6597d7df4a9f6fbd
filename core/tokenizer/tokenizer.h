// Text <-> token ids with a SentencePiece model (the tokenizer.model of a Llama checkpoint), and
// training of a new BPE model for tasks that start from scratch.
#pragma once

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

namespace sentencepiece_bridge {
class Processor;
}

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSerialized(std::string model_bytes, const std::string& source);
  ~Tokenizer();

  // Token ids of `text`, without BOS/EOS.
  absl::StatusOr<std::vector<int>> Encode(absl::string_view text) const;
  // Text of `ids`; control ids (BOS, EOS, PAD) decode to nothing.
  absl::StatusOr<std::string> Decode(const std::vector<int>& ids) const;

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  // -1 when the model has no pad piece.
  int pad_id() const;
  // The tokenizer.model bytes, for saving beside a checkpoint.
  const std::string& serialized() const { return serialized_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece_bridge::Processor> processor_;
  std::string serialized_;
};

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
