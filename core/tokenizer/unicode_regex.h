// The regexes of tokenizer.json files (Split patterns, GPT-2's pre-tokenizer pattern), run by
// PCRE2 with UTF and Unicode properties. Hugging Face's Rust library runs them with Oniguruma,
// whose Unicode classes differ from PCRE2's in two places, so patterns are translated first:
//   \s, \S  -> \p{White_Space}, \P{White_Space}   (PCRE2's \s also takes U+180E)
//   \w, \W  -> Alphabetic, marks, Nd, Pc, Join_Control   (PCRE2's \w takes all of \p{N}, no marks)
// Everything else (\p{L}, \p{N}{1,3}, (?i:...), lookahead, possessive and atomic groups) means the
// same in both. Matching is JIT-compiled where the platform allows.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

class UnicodeRegex {
 public:
  // InvalidArgument with PCRE2's message and offset when `pattern` does not compile.
  static absl::StatusOr<std::unique_ptr<UnicodeRegex>> Compile(absl::string_view pattern);
  // A regex that matches `literal` exactly ("" matches nothing).
  static absl::StatusOr<std::unique_ptr<UnicodeRegex>> Literal(absl::string_view literal);
  ~UnicodeRegex();

  // [begin, end) byte ranges of the successive non-overlapping leftmost matches in valid UTF-8
  // `text` (an empty match is followed by a search one character further on, as Oniguruma's
  // find_iter does).
  absl::StatusOr<std::vector<std::pair<size_t, size_t>>> FindAll(absl::string_view text) const;

  // `text` with every match of FindAll replaced by `replacement` (taken literally).
  absl::StatusOr<std::string> ReplaceAll(absl::string_view text, absl::string_view replacement) const;

  const std::string& pattern() const { return pattern_; }

 private:
  UnicodeRegex() = default;
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string pattern_;
};

// `pattern` with Oniguruma's meaning of \s, \S, \w and \W spelled out for PCRE2 (see above).
absl::StatusOr<std::string> TranslateOnigurumaPattern(absl::string_view pattern);

}  // namespace promptintern
