#include "core/tokenizer/byte_level.h"

#include <array>

#include "core/tokenizer/utf8.h"

namespace promptintern::byte_level {
namespace {

// 68 byte values are not printable and get U+0100..U+0143.
constexpr int kCodePoints = 256 + 68;

struct Alphabet {
  std::array<std::string, 256> encoded;  // byte -> UTF-8 of its code point
  std::array<int, kCodePoints> byte_of;   // code point -> byte, or -1
};

const Alphabet& GetAlphabet() {
  static const Alphabet alphabet = [] {
    Alphabet a;
    a.byte_of.fill(-1);
    const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t code_point = printable(b) ? static_cast<char32_t>(b) : next++;
      a.byte_of[code_point] = b;
      utf8::AppendChar(code_point, &a.encoded[b]);
    }
    return a;
  }();
  return alphabet;
}

}  // namespace

std::string Encode(absl::string_view bytes) {
  const Alphabet& alphabet = GetAlphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += alphabet.encoded[static_cast<unsigned char>(c)];
  return out;
}

std::optional<uint8_t> ByteOf(char32_t code_point) {
  if (code_point >= static_cast<char32_t>(kCodePoints)) return std::nullopt;
  const int byte = GetAlphabet().byte_of[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

}  // namespace promptintern::byte_level
