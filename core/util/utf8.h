// UTF-8 validation (RFC 3629): text that JSON, YAML and protobuf strings may carry. Overlong
// forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// Length of the well-formed sequence at text[i] (Unicode Table 3-7), or, when it is ill-formed, the
// negated length of its maximal subpart (the longest prefix of a well-formed sequence, at least 1):
// what a lossy decoder replaces with one U+FFFD. i < text.size().
int Utf8SequenceAt(absl::string_view text, size_t i);

// The offset of the first byte that does not begin a valid sequence, or text.size().
size_t FirstInvalidUtf8(absl::string_view text);

// INVALID_ARGUMENT "<what> is not valid UTF-8 (byte 0xFF at offset 12)" for invalid text.
absl::Status CheckUtf8(absl::string_view text, absl::string_view what);

}  // namespace promptintern
