#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/tokenizer/unicode_regex.h"

#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"

namespace promptintern {
namespace {

constexpr char kWhiteSpace[] = "\\p{White_Space}";
constexpr char kNotWhiteSpace[] = "\\P{White_Space}";
constexpr char kWordMembers[] = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";

std::string Pcre2Error(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct UnicodeRegex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

UnicodeRegex::~UnicodeRegex() = default;

absl::StatusOr<std::string> TranslateOnigurumaPattern(absl::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      switch (next) {
        case 's': out += kWhiteSpace; break;
        case 'S': out += kNotWhiteSpace; break;
        case 'w': out += in_class ? std::string(kWordMembers) : absl::StrCat("[", kWordMembers, "]"); break;
        case 'W':
          if (in_class) {
            return absl::InvalidArgumentError(
                absl::StrCat("regex ", pattern, ": \\W inside a character class is not supported"));
          }
          out += absl::StrCat("[^", kWordMembers, "]");
          break;
        default: out += c; out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<UnicodeRegex>> UnicodeRegex::Compile(absl::string_view pattern) {
  absl::StatusOr<std::string> translated = TranslateOnigurumaPattern(pattern);
  if (!translated.ok()) return translated.status();
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated->data()), translated->size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("regex ", pattern, " does not compile: ", Pcre2Error(error_code),
                                                   " (at offset ", error_offset, " of ", *translated, ")"));
  }
  // Without JIT (an unsupported CPU), pcre2_match interprets: slower, same results.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  std::unique_ptr<UnicodeRegex> regex(new UnicodeRegex());
  regex->compiled_ = std::make_unique<Compiled>();
  regex->compiled_->code = code;
  regex->pattern_ = std::string(pattern);
  return regex;
}

absl::StatusOr<std::unique_ptr<UnicodeRegex>> UnicodeRegex::Literal(absl::string_view literal) {
  // An empty string is found nowhere (Hugging Face's empty &str pattern), not between all characters.
  if (literal.empty()) return Compile("(*FAIL)");
  std::string quoted;
  for (char c : literal) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      absl::StrAppend(&quoted, "\\x{", absl::Hex(u), "}");
    } else {
      quoted += c;
    }
  }
  return Compile(quoted);
}

absl::StatusOr<std::vector<std::pair<size_t, size_t>>> UnicodeRegex::FindAll(absl::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  pcre2_match_data* match_data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (match_data == nullptr) return absl::ResourceExhaustedError("out of memory for a regex match");
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  absl::Status status;
  while (start <= text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match_data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = absl::InternalError(absl::StrCat("regex ", pattern_, " failed: ", Pcre2Error(rc)));
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
    const size_t begin = ovector[0], end = ovector[1];
    matches.emplace_back(begin, end);
    if (end > begin) {
      start = end;
    } else {
      if (end >= text.size()) break;
      start = end + utf8::CharLength(text, end);
    }
  }
  pcre2_match_data_free(match_data);
  if (!status.ok()) return status;
  return matches;
}

absl::StatusOr<std::string> UnicodeRegex::ReplaceAll(absl::string_view text, absl::string_view replacement) const {
  absl::StatusOr<std::vector<std::pair<size_t, size_t>>> matches = FindAll(text);
  if (!matches.ok()) return matches.status();
  std::string out;
  size_t last = 0;
  for (const auto& [begin, end] : *matches) {
    out.append(text.data() + last, begin - last);
    out.append(replacement.data(), replacement.size());
    last = end;
  }
  out.append(text.data() + last, text.size() - last);
  return out;
}

}  // namespace promptintern
