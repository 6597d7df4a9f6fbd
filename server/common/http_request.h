// The head of an HTTP/1.x request (request line and header fields, RFC 9112), parsed from the
// bytes received so far. Used by the /metrics listener; no I/O, no allocation beyond the result,
// so it can be fed any bytes (it is fuzzed: tests/fuzz/http_request).
//
// Contract of ParseHttpRequestHead(bytes, max_head_bytes):
//   - a complete, valid head          -> the head (`head_bytes` says where it ends; a body or a
//                                        pipelined request after it is not looked at)
//   - a valid prefix of a head        -> std::nullopt: read more bytes
//   - bytes that cannot start a valid head, however they continue -> an error, as soon as the
//     offending line is complete (a client sending garbage is answered at once, not at a timeout):
//       INVALID_ARGUMENT   malformed request line or header field, bare CR, obs-fold, a missing or
//                          repeated Host in HTTP/1.1                                  (HTTP 400)
//       RESOURCE_EXHAUSTED no end of head within max_head_bytes, or too many fields   (HTTP 431)
//       UNIMPLEMENTED      an HTTP version other than 1.0 and 1.1                     (HTTP 505)
// Lines may end in CRLF or a bare LF (RFC 9112 section 2.2); empty lines before the request line
// are skipped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

struct HttpRequestHead {
  std::string method;  // a token, case-sensitive: "GET"
  std::string path;    // the target's path ("/metrics"), also for an absolute-form target
  std::string query;   // after '?', without it; "" when absent
  int minor_version = 1;  // HTTP/1.<minor_version>
  // Field names lower-cased, values with surrounding whitespace removed, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  size_t head_bytes = 0;  // bytes of the head, its final empty line included
};

inline constexpr int kMaxHttpHeaderFields = 100;

absl::StatusOr<std::optional<HttpRequestHead>> ParseHttpRequestHead(absl::string_view bytes, size_t max_head_bytes);

// The HTTP status a parse error is answered with (400, 431 or 505; 400 for any other code).
int HttpStatusForParseError(const absl::Status& error);

// "Not Found" for 404, ...: the reason phrases of the statuses the metrics listener sends.
absl::string_view HttpReasonPhrase(int status);

}  // namespace promptintern
