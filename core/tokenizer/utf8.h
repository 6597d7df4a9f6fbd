// UTF-8 as the Hugging Face tokenizers see it: Rust strings are always valid UTF-8, so text is
// checked once on the way in, and decoded bytes go back to text the way Rust's
// String::from_utf8_lossy does (each maximal invalid subsequence becomes one U+FFFD).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promptintern::utf8 {

inline constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";  // U+FFFD

// OK, or InvalidArgument naming the byte offset of the first ill-formed sequence (CheckUtf8).
absl::Status Validate(absl::string_view text);
// `bytes` with every ill-formed sequence replaced by U+FFFD (Unicode's "maximal subpart" rule).
std::string DecodeLossy(absl::string_view bytes);
// Length in bytes of the character starting at text[i] (text must be valid UTF-8).
size_t CharLength(absl::string_view text, size_t i);
// The code point starting at text[i] of valid UTF-8; `length` receives its size.
char32_t DecodeChar(absl::string_view text, size_t i, size_t* length);
// Appends code point `c` in UTF-8.
void AppendChar(char32_t c, std::string* out);

}  // namespace promptintern::utf8
