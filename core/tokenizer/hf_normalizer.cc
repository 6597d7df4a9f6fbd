#include "core/tokenizer/hf_normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/unicode_regex.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using hf_json::json;

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  absl::Status Normalize(std::string* text) const override {
    for (const auto& step : steps_) RETURN_IF_ERROR(step->Normalize(text));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

enum class Form { kNfc, kNfd, kNfkc, kNfkd };

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* normalizer) : normalizer_(normalizer) {}

  static absl::StatusOr<std::unique_ptr<Normalizer>> Create(Form form) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2* normalizer = nullptr;
    switch (form) {
      case Form::kNfc: normalizer = icu::Normalizer2::getNFCInstance(error); break;
      case Form::kNfd: normalizer = icu::Normalizer2::getNFDInstance(error); break;
      case Form::kNfkc: normalizer = icu::Normalizer2::getNFKCInstance(error); break;
      case Form::kNfkd: normalizer = icu::Normalizer2::getNFKDInstance(error); break;
    }
    if (U_FAILURE(error) || normalizer == nullptr) {
      return absl::InternalError(absl::StrCat("ICU normalizer unavailable: ", u_errorName(error)));
    }
    return std::make_unique<UnicodeNormalizer>(normalizer);
  }

  absl::Status Normalize(std::string* text) const override {
    UErrorCode error = U_ZERO_ERROR;
    const icu::StringPiece input(text->data(), static_cast<int32_t>(text->size()));
    if (normalizer_->isNormalizedUTF8(input, error) && U_SUCCESS(error)) return absl::OkStatus();
    error = U_ZERO_ERROR;
    std::string normalized;
    icu::StringByteSink<std::string> sink(&normalized, static_cast<int32_t>(text->size()));
    normalizer_->normalizeUTF8(0, input, sink, nullptr, error);
    if (U_FAILURE(error)) return absl::InternalError(absl::StrCat("ICU normalization failed: ", u_errorName(error)));
    *text = std::move(normalized);
    return absl::OkStatus();
  }

 private:
  const icu::Normalizer2* normalizer_;  // owned by ICU
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<UnicodeRegex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  absl::Status Normalize(std::string* text) const override {
    ASSIGN_OR_RETURN(*text, pattern_->ReplaceAll(*text, content_));
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<UnicodeRegex> pattern_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status Normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
    return absl::OkStatus();
  }

 private:
  std::string prefix_;
};

// Each code point on its own (as Rust's char::to_lowercase: no final-sigma context).
class LowercaseNormalizer : public Normalizer {
 public:
  absl::Status Normalize(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    for (size_t i = 0; i < text->size();) {
      size_t length = 0;
      const char32_t c = utf8::DecodeChar(*text, i, &length);
      if (c < 0x80) {
        out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
      } else {
        icu::UnicodeString lower(static_cast<UChar32>(c));
        lower.toLower(icu::Locale::getRoot());
        lower.toUTF8String(out);
      }
      i += length;
    }
    *text = std::move(out);
    return absl::OkStatus();
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  absl::Status Normalize(std::string* text) const override {
    size_t begin = 0, end = text->size();
    if (left_) {
      while (begin < end) {
        size_t length = 0;
        if (!u_isUWhiteSpace(static_cast<UChar32>(utf8::DecodeChar(*text, begin, &length)))) break;
        begin += length;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>((*text)[start]) & 0xC0) == 0x80) --start;
        size_t length = 0;
        if (!u_isUWhiteSpace(static_cast<UChar32>(utf8::DecodeChar(*text, start, &length)))) break;
        end = start;
      }
    }
    *text = text->substr(begin, end - begin);
    return absl::OkStatus();
  }

 private:
  bool left_, right_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> ReadNormalizer(const json& node, absl::string_view path) {
  ASSIGN_OR_RETURN(const std::string type, hf_json::TypeOf(node, path));
  if (type == "Sequence") {
    const std::string steps_path = hf_json::Child(path, "normalizers");
    const json* steps = hf_json::Member(node, "normalizers");
    if (steps == nullptr || !steps->is_array()) return hf_json::FieldError(steps_path, "expected an array");
    std::vector<std::unique_ptr<Normalizer>> normalizers;
    for (size_t i = 0; i < steps->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ReadNormalizer((*steps)[i], hf_json::Element(steps_path, i)));
      normalizers.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(normalizers));
  }
  if (type == "NFC") return UnicodeNormalizer::Create(Form::kNfc);
  if (type == "NFD") return UnicodeNormalizer::Create(Form::kNfd);
  if (type == "NFKC") return UnicodeNormalizer::Create(Form::kNfkc);
  if (type == "NFKD") return UnicodeNormalizer::Create(Form::kNfkd);
  if (type == "Replace") {
    ASSIGN_OR_RETURN(auto pattern, hf_json::Pattern(node, path, "pattern"));
    ASSIGN_OR_RETURN(std::string content, hf_json::RequiredString(node, path, "content"));
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
  }
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prefix, hf_json::RequiredString(node, path, "prepend"));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    ASSIGN_OR_RETURN(const bool left, hf_json::OptionalBool(node, path, "strip_left", true));
    ASSIGN_OR_RETURN(const bool right, hf_json::OptionalBool(node, path, "strip_right", true));
    return std::make_unique<StripNormalizer>(left, right);
  }
  return hf_json::FieldError(hf_json::Child(path, "type"),
                             absl::StrCat("unknown normalizer type \"", type,
                                          "\" (supported: Sequence, NFC, NFD, NFKC, NFKD, Replace, Prepend, "
                                          "Lowercase, Strip)"));
}

}  // namespace promptintern
