#include "core/util/utf8.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace promptintern {
namespace {

// Length of the valid sequence at `at`, or 0.
size_t ValidSequenceLength(absl::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(at);
  if (lead < 0x80) return 1;
  size_t length;
  uint8_t low = 0x80, high = 0xBF;  // bounds of the second byte (RFC 3629 section 4)
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - at < length) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

absl::Status CheckUtf8(absl::string_view text, absl::string_view what) {
  for (size_t at = 0; at < text.size();) {
    const size_t length = ValidSequenceLength(text, at);
    if (length == 0) return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8 (byte ", at, ")"));
    at += length;
  }
  return absl::OkStatus();
}

}  // namespace promptintern
