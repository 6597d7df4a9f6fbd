#include "core/tokenizer/utf8.h"

#include "absl/strings/str_cat.h"

namespace promptintern::utf8 {
namespace {

// Length of the well-formed sequence at bytes[i] (Unicode Table 3-7), or the negated length of
// its maximal subpart (the longest prefix of a well-formed sequence, at least 1) when it is
// ill-formed.
int SequenceAt(absl::string_view bytes, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  int length;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    if (i + k >= bytes.size()) return -k;
    const unsigned char b = byte(i + k);
    const bool ok = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return -k;
  }
  return length;
}

}  // namespace

absl::Status Validate(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int length = SequenceAt(text, i);
    if (length < 0) return absl::InvalidArgumentError(absl::StrCat("text is not valid UTF-8 (at byte ", i, ")"));
    i += length;
  }
  return absl::OkStatus();
}

std::string DecodeLossy(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const int length = SequenceAt(bytes, i);
    if (length > 0) {
      out.append(bytes.data() + i, length);
      i += length;
    } else {
      out.append(kReplacementCharacter);
      i += -length;
    }
  }
  return out;
}

size_t CharLength(absl::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

char32_t DecodeChar(absl::string_view text, size_t i, size_t* length) {
  *length = CharLength(text, i);
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  if (*length == 1) return lead;
  char32_t c = lead & (0x7F >> *length);
  for (size_t k = 1; k < *length; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  return c;
}

void AppendChar(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace promptintern::utf8
