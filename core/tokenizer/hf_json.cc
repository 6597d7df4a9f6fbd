#include "core/tokenizer/hf_json.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/unicode_regex.h"
#include "core/tokenizer/utf8.h"

namespace promptintern::hf_json {

absl::Status FieldError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

std::string Child(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Element(absl::string_view path, size_t index) { return absl::StrCat(path, "[", index, "]"); }

const json* Member(const json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ExpectObject(const json& node, absl::string_view path) {
  if (!node.is_object()) return FieldError(path, absl::StrCat("expected an object, got ", node.type_name()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredString(const json& object, absl::string_view path, absl::string_view key) {
  const json* member = Member(object, key);
  if (member == nullptr) return FieldError(Child(path, key), "missing");
  if (!member->is_string()) return FieldError(Child(path, key), absl::StrCat("expected a string, got ", member->type_name()));
  return member->get<std::string>();
}

absl::StatusOr<std::string> OptionalString(const json& object, absl::string_view path, absl::string_view key,
                                           absl::string_view fallback) {
  if (Member(object, key) == nullptr) return std::string(fallback);
  return RequiredString(object, path, key);
}

absl::StatusOr<bool> OptionalBool(const json& object, absl::string_view path, absl::string_view key, bool fallback) {
  const json* member = Member(object, key);
  if (member == nullptr) return fallback;
  if (!member->is_boolean()) return FieldError(Child(path, key), absl::StrCat("expected a boolean, got ", member->type_name()));
  return member->get<bool>();
}

absl::StatusOr<int64_t> OptionalInt(const json& object, absl::string_view path, absl::string_view key,
                                    int64_t fallback) {
  const json* member = Member(object, key);
  if (member == nullptr) return fallback;
  if (!member->is_number_integer()) {
    return FieldError(Child(path, key), absl::StrCat("expected an integer, got ", member->type_name()));
  }
  return member->get<int64_t>();
}

absl::StatusOr<char32_t> RequiredChar(const json& object, absl::string_view path, absl::string_view key) {
  absl::StatusOr<std::string> text = RequiredString(object, path, key);
  if (!text.ok()) return text.status();
  size_t length = 0;
  if (text->empty() || (utf8::DecodeChar(*text, 0, &length), length != text->size())) {
    return FieldError(Child(path, key), absl::StrCat("expected one character, got \"", *text, "\""));
  }
  return utf8::DecodeChar(*text, 0, &length);
}

absl::StatusOr<std::string> TypeOf(const json& object, absl::string_view path) {
  if (absl::Status status = ExpectObject(object, path); !status.ok()) return status;
  return RequiredString(object, path, "type");
}

absl::StatusOr<std::unique_ptr<UnicodeRegex>> Pattern(const json& object, absl::string_view path,
                                                      absl::string_view key) {
  const std::string pattern_path = Child(path, key);
  const json* pattern = Member(object, key);
  if (pattern == nullptr) return FieldError(pattern_path, "missing");
  if (const json* literal = Member(*pattern, "String"); literal != nullptr && literal->is_string()) {
    return UnicodeRegex::Literal(literal->get<std::string>());
  }
  if (const json* regex = Member(*pattern, "Regex"); regex != nullptr && regex->is_string()) {
    absl::StatusOr<std::unique_ptr<UnicodeRegex>> compiled = UnicodeRegex::Compile(regex->get<std::string>());
    if (!compiled.ok()) return FieldError(pattern_path, compiled.status().message());
    return compiled;
  }
  return FieldError(pattern_path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

absl::StatusOr<json> Parse(absl::string_view text) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", error.what()));
  }
}

}  // namespace promptintern::hf_json
