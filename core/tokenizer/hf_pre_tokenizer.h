// tokenizer.json "pre_tokenizer": splits normalized text into the words BPE sees, and for
// byte-level models maps each word's bytes to the byte-level alphabet (byte_level.h).
// Supported types: Sequence, Split (String or Regex pattern, all five delimiter behaviours,
// invert), ByteLevel (add_prefix_space, use_regex: GPT-2's regex), Digits, Metaspace.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/hf_json.h"

namespace promptintern {

struct PreToken {
  std::string text;
  // Whether the piece starts where the input text starts (Metaspace's prepend_scheme "first").
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each piece by its parts; empty parts are dropped.
  virtual absl::Status PreTokenize(std::vector<PreToken>* pieces) const = 0;
};

// Where Metaspace puts its replacement character in front of a piece; its decoder reads the same.
enum class PrependScheme { kAlways, kFirst, kNever };
// "prepend_scheme" of a Metaspace section, or its older "add_prefix_space".
absl::StatusOr<PrependScheme> ReadPrependScheme(const hf_json::json& node, absl::string_view path);

absl::StatusOr<std::unique_ptr<PreTokenizer>> ReadPreTokenizer(const hf_json::json& node, absl::string_view path);

}  // namespace promptintern
