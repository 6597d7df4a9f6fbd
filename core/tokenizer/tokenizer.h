// Text <-> token ids behind one interface for the two tokenizer formats checkpoints ship:
//   - a Hugging Face tokenizer.json (hf_tokenizer.h: BPE, byte-level or byte-fallback), with the
//     tokenizer_config.json and generation_config.json beside it, and
//   - a SentencePiece tokenizer.model (sentencepiece_tokenizer.h; also what TrainBpeTokenizer makes).
// Tokenizer::LoadFromDirectory picks the kind from a checkpoint directory's files
// (core/util/filenames.h); Save writes them back; Serialize/Deserialize carry either kind as one string
// (the data-parallel trainer broadcasts it to the other ranks).
//
// Conventions: Encode never adds template tokens; EncodeWithSpecialTokens applies the tokenizer's
// own template (Hugging Face add_special_tokens=true); EncodePrompt is what a prompt starts with,
// the template's prefix (BOS for Llama and Gemma, nothing for Qwen and GPT-2) and the text, never
// the template's suffix. Every method is const and safe to call from several threads at once.
// Bad input (invalid UTF-8, negative ids, malformed files) gives a status, never an exception.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// What Decode does with special tokens (BOS, EOS, <|im_end|>, <start_of_turn>, ...).
enum class SpecialTokens {
  kKeep,  // as Hugging Face decode(ids, skip_special_tokens=false)
  kSkip,  // dropped, for text shown to a user (skip_special_tokens=true)
};

// A tokenizer's files: on-disk name (core/util/filenames.h) -> bytes.
using TokenizerFiles = std::map<std::string, std::string>;

class Tokenizer {
 public:
  // The tokenizer of a checkpoint directory: tokenizer.json (+ tokenizer_config.json,
  // generation_config.json when present) if it has one, else tokenizer.model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromDirectory(const std::string& directory);
  // The same from file contents; `source` names them in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFiles(TokenizerFiles files, const std::string& source);
  // Inverse of Serialize().
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Deserialize(absl::string_view bytes, const std::string& source);

  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text` alone, no template tokens. Added and special tokens written literally in
  // the text (e.g. "<|im_start|>") are matched as single tokens, as Hugging Face does.
  virtual absl::StatusOr<std::vector<int>> Encode(absl::string_view text) const = 0;
  // `text` with the tokenizer's template (BOS, EOS, ... as its post-processor and config say).
  virtual absl::StatusOr<std::vector<int>> EncodeWithSpecialTokens(absl::string_view text) const = 0;
  // prompt_prefix() followed by Encode(text): the ids a prompt to the model starts with.
  absl::StatusOr<std::vector<int>> EncodePrompt(absl::string_view text) const;

  // Text of `ids`. Negative ids are an error; what other ids a tokenizer refuses is its own
  // business (SentencePiece: ids outside the vocabulary; Hugging Face: none, ids without a token
  // decode to nothing, as there).
  absl::StatusOr<std::string> Decode(const std::vector<int>& ids, SpecialTokens special = SpecialTokens::kKeep) const;

  // One more than the largest id the tokenizer can produce or decode.
  virtual int vocab_size() const = 0;
  // One more than the largest id of the tokenizer's model (BPE vocabulary, SentencePiece pieces):
  // every id Encode produces for text that does not spell an added token literally. Added tokens
  // may lie beyond it (and beyond a model's embeddings: Gemma 3's <image_soft_token> is id 262144
  // beside a 262144-row embedding), which is why a model and its tokenizer are matched on this.
  virtual int model_vocab_size() const = 0;
  // The ids EncodePrompt puts before the text: {BOS} or none.
  const std::vector<int>& prompt_prefix() const { return prompt_prefix_; }
  // The first of prompt_prefix(), or -1 when the tokenizer adds none (Qwen, GPT-2).
  int bos_id() const { return prompt_prefix_.empty() ? -1 : prompt_prefix_.front(); }
  // Every id that ends generation (Llama 3: <|end_of_text|>, <|eot_id|>, ...), primary first.
  const std::vector<int>& eos_ids() const { return eos_ids_; }
  // The primary EOS (what training appends after a completion), or -1 when there is none.
  int eos_id() const { return eos_ids_.empty() ? -1 : eos_ids_.front(); }
  bool IsEos(int id) const;
  // -1 when the tokenizer has no pad token.
  int pad_id() const { return pad_id_; }

  // The tokenizer's files and the name of its main one (kHfTokenizerFile or
  // kSentencePieceModelFile), e.g. for a registry manifest.
  const TokenizerFiles& files() const { return files_; }
  const std::string& file_name() const { return file_name_; }
  // Writes files() into `directory` (each atomically) and removes the other kind's main file, so
  // that LoadFromDirectory reads back this tokenizer.
  absl::Status Save(const std::string& directory) const;
  // Every file in one string, for Deserialize.
  std::string Serialize() const;

 protected:
  Tokenizer(TokenizerFiles files, std::string file_name, std::vector<int> prompt_prefix, std::vector<int> eos_ids,
            int pad_id);
  // Decode with `ids` already checked to be non-negative.
  virtual absl::StatusOr<std::string> DecodeIds(const std::vector<int>& ids, SpecialTokens special) const = 0;

 private:
  TokenizerFiles files_;
  std::string file_name_;
  std::vector<int> prompt_prefix_;
  std::vector<int> eos_ids_;
  int pad_id_ = -1;
};

// The main tokenizer file of `directory` (kHfTokenizerFile, else kSentencePieceModelFile), or ""
// when it has neither.
std::string TokenizerFileIn(const std::string& directory);

}  // namespace promptintern
