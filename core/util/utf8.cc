#include "core/util/utf8.h"

#include <cstdint>

#include "absl/strings/str_format.h"

namespace promptintern {

int Utf8SequenceAt(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  int length;
  uint8_t low = 0x80, high = 0xBF;  // range of the second byte: narrowed against overlongs and surrogates
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    if (i + k >= text.size()) return -k;
    const uint8_t next = byte(i + k);
    const bool ok = k == 1 ? (next >= low && next <= high) : (next >= 0x80 && next <= 0xBF);
    if (!ok) return -k;
  }
  return length;
}

size_t FirstInvalidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const int length = Utf8SequenceAt(text, i);
    if (length < 0) return i;
    i += length;
  }
  return text.size();
}

absl::Status CheckUtf8(absl::string_view text, absl::string_view what) {
  const size_t invalid = FirstInvalidUtf8(text);
  if (invalid == text.size()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat("%s is not valid UTF-8 (byte 0x%02X at offset %d)", what,
                                                    static_cast<uint8_t>(text[invalid]), invalid));
}

}  // namespace promptintern
