// tokenizer.json "decoder": turns the token strings of some ids back into text. Each step maps a
// list of strings to a list of strings ("decode_chain" there); the result is their concatenation.
// Supported types: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/hf_json.h"

namespace promptintern {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual absl::Status DecodeChain(std::vector<std::string>* tokens) const = 0;
};

absl::StatusOr<std::unique_ptr<Decoder>> ReadDecoder(const hf_json::json& node, absl::string_view path);

}  // namespace promptintern
