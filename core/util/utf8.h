// UTF-8 validation (RFC 3629): text that JSON, YAML and protobuf strings may carry. Overlong
// forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// The offset of the first byte that does not begin a valid sequence, or text.size().
size_t FirstInvalidUtf8(absl::string_view text);

// INVALID_ARGUMENT "<what> is not valid UTF-8 (byte 0xFF at offset 12)" for invalid text.
absl::Status CheckUtf8(absl::string_view text, absl::string_view what);

}  // namespace promptintern
