#include "core/tokenizer/hf_added_tokens.h"

#include <unicode/uchar.h>

#include "core/tokenizer/utf8.h"

namespace promptintern {
namespace {

// The Rust regex crate's \w and \s, which Hugging Face's single_word and strip checks use.
bool IsWordChar(char32_t c) {
  const UChar32 u = static_cast<UChar32>(c);
  return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) || u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL) ||
         (U_GET_GC_MASK(u) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}
bool IsSpace(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

size_t PreviousCharStart(absl::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

bool EndsWithWord(absl::string_view text) {
  if (text.empty()) return false;
  size_t length = 0;
  return IsWordChar(utf8::DecodeChar(text, PreviousCharStart(text, text.size()), &length));
}

bool StartsWithWord(absl::string_view text) {
  size_t length = 0;
  return !text.empty() && IsWordChar(utf8::DecodeChar(text, 0, &length));
}

// Start of the whitespace that ends text[0, end).
size_t TrailingSpaceStart(absl::string_view text, size_t end) {
  while (end > 0) {
    const size_t start = PreviousCharStart(text, end);
    size_t length = 0;
    if (!IsSpace(utf8::DecodeChar(text, start, &length))) break;
    end = start;
  }
  return end;
}

// End of the whitespace that starts at text[begin].
size_t LeadingSpaceEnd(absl::string_view text, size_t begin) {
  while (begin < text.size()) {
    size_t length = 0;
    if (!IsSpace(utf8::DecodeChar(text, begin, &length))) break;
    begin += length;
  }
  return begin;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<Pattern>& patterns) : nodes_(1) {
  for (const Pattern& pattern : patterns) {
    if (pattern.text.empty()) continue;
    const int index = static_cast<int>(patterns_.size());
    patterns_.push_back(pattern);
    int node = 0;
    for (char c : pattern.text) {
      const unsigned char byte = static_cast<unsigned char>(c);
      int child = -1;
      for (const auto& [b, next] : nodes_[node].children) {
        if (b == byte) child = next;
      }
      if (child < 0) {
        child = static_cast<int>(nodes_.size());
        nodes_[node].children.emplace_back(byte, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    // The same text twice: the first token keeps it.
    if (nodes_[node].pattern < 0) nodes_[node].pattern = index;
    first_bytes_.set(static_cast<unsigned char>(pattern.text[0]));
  }
}

std::pair<int, size_t> AddedTokenMatcher::LongestAt(absl::string_view text, size_t begin) const {
  std::pair<int, size_t> best(-1, 0);
  int node = 0;
  for (size_t i = begin; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    int child = -1;
    for (const auto& [b, next] : nodes_[node].children) {
      if (b == byte) child = next;
    }
    if (child < 0) break;
    node = child;
    if (nodes_[node].pattern >= 0) best = {nodes_[node].pattern, i + 1};
  }
  return best;
}

std::vector<AddedTokenMatcher::Piece> AddedTokenMatcher::Split(absl::string_view text) const {
  std::vector<Piece> pieces;
  size_t covered = 0;  // end of the last piece
  size_t position = 0;
  while (position < text.size()) {
    if (!first_bytes_.test(static_cast<unsigned char>(text[position]))) {
      ++position;
      continue;
    }
    const auto [index, match_end] = LongestAt(text, position);
    if (index < 0) {
      ++position;
      continue;
    }
    const AddedToken* token = patterns_[index].token;
    size_t begin = position, end = match_end;
    position = match_end;  // the search goes on after the occurrence, whatever happens to it
    if (token->single_word) {
      const bool word_before = begin > 0 && EndsWithWord(text.substr(0, begin));
      const bool word_after = end < text.size() && StartsWithWord(text.substr(end));
      if (word_before || word_after) continue;
    }
    // lstrip stops at whitespace an earlier token already took.
    if (token->lstrip) begin = std::max(TrailingSpaceStart(text, begin), covered);
    if (token->rstrip) end = LeadingSpaceEnd(text, end);
    if (covered < begin) pieces.push_back({covered, begin, nullptr});
    pieces.push_back({begin, end, token});
    covered = end;
  }
  if (covered < text.size()) pieces.push_back({covered, text.size(), nullptr});
  return pieces;
}

}  // namespace promptintern
