#include "core/tokenizer/hf_bpe.h"

#include <functional>
#include <queue>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using hf_json::json;

// Hugging Face's cache sizes: words longer than this are not cached, and the cache stops
// growing when full (so a long run of unique words cannot take all memory).
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kCacheCapacity = 1 << 16;

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Read(const json& node, absl::string_view path) {
  ASSIGN_OR_RETURN(const std::string type, hf_json::OptionalString(node, path, "type", "BPE"));
  if (type != "BPE") {
    return hf_json::FieldError(hf_json::Child(path, "type"),
                               absl::StrCat("unknown model type \"", type, "\" (supported: BPE)"));
  }
  std::unique_ptr<BpeModel> model(new BpeModel());
  if (const json* dropout = hf_json::Member(node, "dropout"); dropout != nullptr && dropout->is_number() &&
                                                              dropout->get<double>() > 0) {
    return hf_json::FieldError(hf_json::Child(path, "dropout"), "BPE dropout is not supported (it samples)");
  }
  ASSIGN_OR_RETURN(model->fuse_unk_, hf_json::OptionalBool(node, path, "fuse_unk", false));
  ASSIGN_OR_RETURN(model->byte_fallback_, hf_json::OptionalBool(node, path, "byte_fallback", false));
  ASSIGN_OR_RETURN(model->ignore_merges_, hf_json::OptionalBool(node, path, "ignore_merges", false));
  ASSIGN_OR_RETURN(model->continuing_subword_prefix_,
                   hf_json::OptionalString(node, path, "continuing_subword_prefix", ""));
  ASSIGN_OR_RETURN(model->end_of_word_suffix_, hf_json::OptionalString(node, path, "end_of_word_suffix", ""));

  const std::string vocab_path = hf_json::Child(path, "vocab");
  const json* vocab = hf_json::Member(node, "vocab");
  if (vocab == nullptr || !vocab->is_object()) return hf_json::FieldError(vocab_path, "expected an object");
  int max_id = -1;
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 30)) {
      return hf_json::FieldError(hf_json::Child(vocab_path, token), "expected a token id in [0, 2^30)");
    }
    max_id = std::max(max_id, id.get<int>());
  }
  model->tokens_.resize(max_id + 1);
  model->has_token_.resize(max_id + 1, false);
  for (const auto& [token, id] : vocab->items()) {
    const int value = id.get<int>();
    if (model->has_token_[value]) {
      return hf_json::FieldError(vocab_path, absl::StrCat("token id ", value, " is given to two tokens"));
    }
    model->tokens_[value] = token;
    model->has_token_[value] = true;
  }
  // Views into tokens_, which no longer changes size.
  model->vocab_.reserve(vocab->size());
  for (int id = 0; id <= max_id; ++id) {
    if (model->has_token_[id]) model->vocab_.emplace(model->tokens_[id], id);
  }

  ASSIGN_OR_RETURN(const std::string unk_token, hf_json::OptionalString(node, path, "unk_token", ""));
  if (!unk_token.empty()) {
    model->unk_id_ = model->TokenToId(unk_token);
    if (!model->unk_id_) {
      return hf_json::FieldError(hf_json::Child(path, "unk_token"),
                                 absl::StrCat("\"", unk_token, "\" is not in the vocabulary"));
    }
  }
  if (model->byte_fallback_) {
    model->byte_tokens_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      if (auto id = model->TokenToId(absl::StrFormat("<0x%02X>", b))) model->byte_tokens_[b] = *id;
    }
  }

  const std::string merges_path = hf_json::Child(path, "merges");
  const json* merges = hf_json::Member(node, "merges");
  if (merges == nullptr || !merges->is_array()) return hf_json::FieldError(merges_path, "expected an array");
  model->merges_.reserve(merges->size());
  const size_t prefix_length = model->continuing_subword_prefix_.size();
  std::string merged;
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const json& merge = (*merges)[rank];
    absl::string_view left, right;
    if (merge.is_string()) {
      const absl::string_view text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == absl::string_view::npos || text.find(' ', space + 1) != absl::string_view::npos) {
        return hf_json::FieldError(hf_json::Element(merges_path, rank),
                                   absl::StrCat("expected \"left right\" with one space, got \"", text, "\""));
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get_ref<const std::string&>();
      right = merge[1].get_ref<const std::string&>();
    } else {
      return hf_json::FieldError(hf_json::Element(merges_path, rank),
                                 "expected \"left right\" or [\"left\", \"right\"]");
    }
    if (right.size() < prefix_length) {
      return hf_json::FieldError(hf_json::Element(merges_path, rank),
                                 absl::StrCat("\"", right, "\" lacks the continuing_subword_prefix"));
    }
    merged.assign(left.data(), left.size());
    merged.append(right.data() + prefix_length, right.size() - prefix_length);
    const std::optional<int> left_id = model->TokenToId(left);
    const std::optional<int> right_id = model->TokenToId(right);
    const std::optional<int> merged_id = model->TokenToId(merged);
    for (const auto& [token, id] : {std::pair<absl::string_view, std::optional<int>>{left, left_id},
                                    {right, right_id}, {merged, merged_id}}) {
      if (!id) {
        return hf_json::FieldError(hf_json::Element(merges_path, rank),
                                   absl::StrCat("token \"", token, "\" is not in the vocabulary"));
      }
    }
    // A pair listed twice keeps its last rank, as Hugging Face's map does.
    model->merges_[PairKey(*left_id, *right_id)] = Merge{static_cast<int>(rank), *merged_id};
  }
  return model;
}

std::optional<int> BpeModel::TokenToId(absl::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int id) const {
  if (id < 0 || id >= size() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

const BpeModel::Merge* BpeModel::FindMerge(int left, int right) const {
  const auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::Tokenize(absl::string_view word, std::vector<int>* ids) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    absl::ReaderMutexLock lock(&cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> word_ids;
  if (ignore_merges_) {
    if (const std::optional<int> id = TokenToId(word)) word_ids.push_back(*id);
  }
  if (word_ids.empty()) word_ids = MergeWord(word);
  ids->insert(ids->end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(word, std::move(word_ids));
  }
}

std::vector<int> BpeModel::MergeWord(absl::string_view word) const {
  // The word's characters as initial symbols (Hugging Face's merge_word).
  std::vector<int> symbols;
  symbols.reserve(word.size());
  std::optional<int> pending_unk;
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    const size_t length = utf8::CharLength(word, i);
    piece.assign(word.data() + i, length);
    if (i > 0) piece.insert(0, continuing_subword_prefix_);
    if (i + length == word.size()) piece += end_of_word_suffix_;
    i += length;
    if (const std::optional<int> id = TokenToId(piece)) {
      if (pending_unk) symbols.push_back(*std::exchange(pending_unk, std::nullopt));
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (char c : piece) all_bytes = all_bytes && byte_tokens_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        // As there, a pending unknown is not flushed before byte tokens.
        for (char c : piece) symbols.push_back(byte_tokens_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) symbols.push_back(*pending_unk);
      pending_unk = *unk_id_;
    }
  }
  if (pending_unk) symbols.push_back(*pending_unk);

  const int n = static_cast<int>(symbols.size());
  std::vector<int> prev(n), next(n);
  std::vector<bool> removed(n, false);
  for (int k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  // (rank, position, new id), lowest rank first, then leftmost.
  using Candidate = std::tuple<int, int, int>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  for (int k = 0; k + 1 < n; ++k) {
    if (const Merge* merge = FindMerge(symbols[k], symbols[k + 1])) queue.emplace(merge->rank, k, merge->new_id);
  }
  while (!queue.empty()) {
    const auto [rank, position, new_id] = queue.top();
    queue.pop();
    if (removed[position] || next[position] < 0) continue;
    const int right = next[position];
    const Merge* current = FindMerge(symbols[position], symbols[right]);
    if (current == nullptr || current->new_id != new_id) continue;  // a stale entry
    symbols[position] = new_id;
    removed[right] = true;
    next[position] = next[right];
    if (next[right] >= 0) prev[next[right]] = position;
    if (prev[position] >= 0) {
      if (const Merge* merge = FindMerge(symbols[prev[position]], new_id)) {
        queue.emplace(merge->rank, prev[position], merge->new_id);
      }
    }
    if (next[position] >= 0) {
      if (const Merge* merge = FindMerge(new_id, symbols[next[position]])) {
        queue.emplace(merge->rank, position, merge->new_id);
      }
    }
  }
  std::vector<int> ids;
  ids.reserve(n);
  for (int k = 0; k < n; ++k) {
    if (!removed[k]) ids.push_back(symbols[k]);
  }
  return ids;
}

}  // namespace promptintern
