// tokenizer.json "normalizer": the text rewrites that run before pre-tokenization, on each piece
// of text between the added tokens that are matched raw. Unicode normalization forms come from ICU.
// Supported types: Sequence, NFC, NFD, NFKC, NFKD, Replace, Prepend, Lowercase, Strip.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/hf_json.h"

namespace promptintern {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites valid UTF-8 `text` in place.
  virtual absl::Status Normalize(std::string* text) const = 0;
};

// The normalizer described by `node` (at `path` in the file); an unknown type is an error
// naming the field.
absl::StatusOr<std::unique_ptr<Normalizer>> ReadNormalizer(const hf_json::json& node, absl::string_view path);

}  // namespace promptintern
