#include "core/tokenizer/incremental_detokenizer.h"

#include "absl/strings/match.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace promptintern {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, SpecialTokens special)
    : tokenizer_(tokenizer), special_(special) {}

absl::StatusOr<std::string> IncrementalDetokenizer::Add(int id) {
  pending_.push_back(id);
  return TakePending(/*hold_incomplete=*/true);
}

absl::StatusOr<std::string> IncrementalDetokenizer::Finish() { return TakePending(/*hold_incomplete=*/false); }

absl::StatusOr<std::string> IncrementalDetokenizer::TakePending(bool hold_incomplete) {
  if (pending_.empty()) return std::string();
  std::vector<int> window = context_;
  window.insert(window.end(), pending_.begin(), pending_.end());
  ASSIGN_OR_RETURN(const std::string text, tokenizer_.Decode(window, special_));
  const bool incomplete = text.size() <= context_text_.size() || absl::EndsWith(text, utf8::kReplacementCharacter);
  if (hold_incomplete && incomplete) return std::string();
  std::string chunk;
  if (absl::StartsWith(text, context_text_)) {
    chunk = text.substr(context_text_.size());
  } else {
    ASSIGN_OR_RETURN(chunk, tokenizer_.Decode(pending_, special_));
  }
  context_ = std::move(pending_);
  pending_.clear();
  ASSIGN_OR_RETURN(context_text_, tokenizer_.Decode(context_, special_));
  return chunk;
}

}  // namespace promptintern
