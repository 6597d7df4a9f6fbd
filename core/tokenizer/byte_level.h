// GPT-2's byte-level alphabet: each of the 256 byte values stands for one printable code point
// (printable Latin-1 bytes for themselves, the others for U+0100 onwards, e.g. ' ' -> 'Ġ'), so
// BPE runs over text with no spaces or control characters and still covers every byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace promptintern::byte_level {

// `bytes` with each byte replaced by the UTF-8 of its stand-in code point.
std::string Encode(absl::string_view bytes);
// The byte a code point stands for, if it is one of the 256.
std::optional<uint8_t> ByteOf(char32_t code_point);

}  // namespace promptintern::byte_level
