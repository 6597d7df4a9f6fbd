// UTF-8 validation for text that arrives as bytes (request fields, files).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no truncated sequence. OK, or INVALID_ARGUMENT
// "<what> is not valid UTF-8 (byte <offset>)" with the offset of the first bad sequence.
absl::Status CheckUtf8(absl::string_view text, absl::string_view what);

}  // namespace promptintern
