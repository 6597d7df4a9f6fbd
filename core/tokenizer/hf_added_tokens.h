// The "added_tokens" of tokenizer.json (special tokens such as <|im_start|>, and others such as
// Gemma's runs of newlines) and how Hugging Face finds them in text: the leftmost, then longest,
// occurrence, scanning on after it; `single_word` skips an occurrence inside a word, `lstrip` and
// `rstrip` take the whitespace around it into the token. Tokens with normalized=false are found
// in the raw text, the others in the normalized text (their own content normalized).
#pragma once

#include <bitset>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace promptintern {

struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

class AddedTokenMatcher {
 public:
  struct Pattern {
    std::string text;          // what to look for: the content, or its normalized form
    const AddedToken* token;   // must outlive the matcher
  };
  explicit AddedTokenMatcher(const std::vector<Pattern>& patterns);

  struct Piece {
    size_t begin, end;         // byte range in the text
    const AddedToken* token;   // null for text between tokens
  };
  // `text` cut into added tokens and the text between them (no empty text pieces).
  std::vector<Piece> Split(absl::string_view text) const;
  bool empty() const { return patterns_.empty(); }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int pattern = -1;
  };
  // The longest pattern that starts at text[begin]: (pattern index, end), or (-1, 0).
  std::pair<int, size_t> LongestAt(absl::string_view text, size_t begin) const;

  std::vector<Pattern> patterns_;
  std::vector<Node> nodes_;        // a byte trie; nodes_[0] is the root
  std::bitset<256> first_bytes_;   // skips positions no pattern can start at
};

}  // namespace promptintern
