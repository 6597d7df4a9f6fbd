// tokenizer.json "model" of type BPE: a vocabulary, ranked merges (as "a b" strings or ["a", "b"]
// pairs), and the options byte-level and SentencePiece-style files use: byte_fallback (unknown
// characters become <0xNN> tokens), unk_token with fuse_unk, ignore_merges (a word that is itself
// a vocabulary entry is emitted whole), continuing_subword_prefix and end_of_word_suffix.
//
// Merging follows Hugging Face's Word::merge_all: the lowest-ranked adjacent pair first (leftmost
// on ties), over a linked list of symbols with a priority queue, so a word of n characters costs
// O(n log n). Tokenized words are cached (bounded, shared by all threads).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/tokenizer/hf_json.h"

namespace promptintern {

class BpeModel {
 public:
  // `node` is the "model" section at `path`. Unknown model types, malformed merges and merges
  // that name tokens outside the vocabulary are errors naming the field.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Read(const hf_json::json& node, absl::string_view path);

  // Appends the ids of one pre-tokenized word.
  void Tokenize(absl::string_view word, std::vector<int>* ids) const;

  std::optional<int> TokenToId(absl::string_view token) const;
  // The token of `id`, or null when the vocabulary has none.
  const std::string* IdToToken(int id) const;
  // One more than the largest id of the vocabulary.
  int size() const { return static_cast<int>(tokens_.size()); }

 private:
  struct Merge {
    int rank;
    int new_id;
  };
  BpeModel() = default;
  std::vector<int> MergeWord(absl::string_view word) const;
  const Merge* FindMerge(int left, int right) const;

  std::vector<std::string> tokens_;  // by id; "" where the vocabulary has no entry
  absl::flat_hash_map<absl::string_view, int> vocab_;  // views of tokens_
  std::vector<bool> has_token_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<int> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::vector<int> byte_tokens_;  // byte -> id of "<0xNN>", -1 when missing (byte_fallback only)

  mutable absl::Mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_ ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace promptintern
