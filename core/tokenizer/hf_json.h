// Reading the JSON of tokenizer.json and its companion files with errors that name the field:
// "pre_tokenizer.pretokenizers[1].type: unknown pre-tokenizer type \"Foo\"". Each reader of a
// section (normalizer, pre-tokenizer, model, ...) takes its node and the node's path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

class UnicodeRegex;

namespace hf_json {

using json = nlohmann::json;

// InvalidArgument "<path>: <message>".
absl::Status FieldError(absl::string_view path, absl::string_view message);
// "<path>.<key>" ("<key>" at the top level) and "<path>[<index>]".
std::string Child(absl::string_view path, absl::string_view key);
std::string Element(absl::string_view path, size_t index);

// The member, or null when it is missing or JSON null.
const json* Member(const json& object, absl::string_view key);
// `node` must be an object.
absl::Status ExpectObject(const json& node, absl::string_view path);

absl::StatusOr<std::string> RequiredString(const json& object, absl::string_view path, absl::string_view key);
absl::StatusOr<std::string> OptionalString(const json& object, absl::string_view path, absl::string_view key,
                                           absl::string_view fallback);
absl::StatusOr<bool> OptionalBool(const json& object, absl::string_view path, absl::string_view key, bool fallback);
absl::StatusOr<int64_t> OptionalInt(const json& object, absl::string_view path, absl::string_view key,
                                    int64_t fallback);
// The one code point of a string field (Metaspace's replacement, Strip's content).
absl::StatusOr<char32_t> RequiredChar(const json& object, absl::string_view path, absl::string_view key);

// The "type" member of a section.
absl::StatusOr<std::string> TypeOf(const json& object, absl::string_view path);

// A pattern member {"String": "..."} or {"Regex": "..."} as a regex (a String matches literally).
absl::StatusOr<std::unique_ptr<UnicodeRegex>> Pattern(const json& object, absl::string_view path,
                                                      absl::string_view key);

// Parses `text`; a syntax error names the byte offset.
absl::StatusOr<json> Parse(absl::string_view text);

}  // namespace hf_json
}  // namespace promptintern
