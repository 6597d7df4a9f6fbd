#include "server/common/http_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

// tchar of RFC 9110 section 5.6.2.
bool IsTokenChar(unsigned char c) {
  if (absl::ascii_isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// field-value characters: VCHAR, obs-text, SP and HTAB.
bool IsFieldValue(absl::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 ? c != '\t' : c == 0x7f) return false;
  }
  return true;
}

absl::Status Malformed(absl::string_view what) { return absl::InvalidArgumentError(what); }

// request-target in origin-form ("/path?query") or absolute-form ("http://host/path?query").
absl::Status ParseTarget(absl::string_view target, HttpRequestHead* head) {
  if (target.empty()) return Malformed("empty request target");
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return Malformed("request target has a character outside visible ASCII");
  }
  if (target.front() != '/') {
    const size_t scheme_end = target.find("://");
    const absl::string_view scheme = scheme_end == absl::string_view::npos ? "" : target.substr(0, scheme_end);
    if (!absl::EqualsIgnoreCase(scheme, "http") && !absl::EqualsIgnoreCase(scheme, "https")) {
      return Malformed("request target is neither a path nor an http URL");
    }
    const size_t path_start = target.find_first_of("/?", scheme_end + 3);
    if (path_start == scheme_end + 3) return Malformed("request target URL has no host");
    target = path_start == absl::string_view::npos ? absl::string_view("/") : target.substr(path_start);
  }
  const size_t question = target.find('?');
  head->path = std::string(target.substr(0, question));
  if (head->path.empty()) head->path = "/";
  head->query = question == absl::string_view::npos ? "" : std::string(target.substr(question + 1));
  return absl::OkStatus();
}

absl::Status ParseRequestLine(absl::string_view line, HttpRequestHead* head) {
  const size_t first_space = line.find(' ');
  const size_t last_space = line.rfind(' ');
  if (first_space == absl::string_view::npos || first_space == last_space) {
    return Malformed("request line is not 'METHOD TARGET HTTP/1.x'");
  }
  const absl::string_view method = line.substr(0, first_space);
  const absl::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  const absl::string_view version = line.substr(last_space + 1);
  if (!IsToken(method)) return Malformed("request method is not a token");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !absl::ascii_isdigit(version[5]) ||
      version[6] != '.' || !absl::ascii_isdigit(version[7])) {
    return Malformed("request line does not end in an HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return absl::UnimplementedError(absl::StrCat(version, " is not supported; use HTTP/1.1"));
  }
  head->method = std::string(method);
  head->minor_version = version[7] - '0';
  return ParseTarget(target, head);
}

absl::Status ParseHeaderField(absl::string_view line, HttpRequestHead* head) {
  if (line.front() == ' ' || line.front() == '\t') return Malformed("header line folding is not accepted");
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return Malformed("header line has no ':'");
  const absl::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return Malformed("header field name is not a token");
  const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (!IsFieldValue(value)) return Malformed("header field value has a control character");
  if (head->headers.size() >= static_cast<size_t>(kMaxHttpHeaderFields)) {
    return absl::ResourceExhaustedError(absl::StrCat("more than ", kMaxHttpHeaderFields, " header fields"));
  }
  head->headers.emplace_back(absl::AsciiStrToLower(name), std::string(value));
  return absl::OkStatus();
}

absl::Status CheckHost(const HttpRequestHead& head) {
  int hosts = 0;
  for (const auto& [name, value] : head.headers) hosts += name == "host" ? 1 : 0;
  if (head.minor_version == 1 && hosts == 0) return Malformed("HTTP/1.1 request without a Host header");
  if (hosts > 1) return Malformed("more than one Host header");
  return absl::OkStatus();
}

// A line without its line feed yet: a CR must be its last byte, and the rest may only hold bytes
// its kind of line allows (the request line: visible ASCII and SP; a field line: no controls
// but HTAB).
absl::Status CheckUnfinishedLine(absl::string_view rest, bool is_field_line) {
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  for (unsigned char c : rest) {
    if (c == '\r') return Malformed("bare CR in the request head");
    const bool allowed = is_field_line ? (c >= 0x20 || c == '\t') && c != 0x7f : c >= 0x20 && c < 0x7f;
    if (!allowed) {
      return Malformed(is_field_line ? "header field has a control character"
                                     : "request line has a byte outside visible ASCII");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<HttpRequestHead>> ParseHttpRequestHead(absl::string_view bytes, size_t max_head_bytes) {
  HttpRequestHead head;
  bool have_request_line = false;
  size_t position = 0;
  while (true) {
    const size_t newline = bytes.find('\n', position);
    if (newline == absl::string_view::npos || newline >= max_head_bytes) {
      if (bytes.size() >= max_head_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat("request head exceeds ", max_head_bytes, " bytes"));
      }
      // The unfinished line is judged once complete, except for bytes no valid line can hold (so
      // that a TLS handshake or binary garbage without a line feed is answered at once).
      RETURN_IF_ERROR(CheckUnfinishedLine(bytes.substr(position), have_request_line));
      return std::nullopt;
    }
    absl::string_view line = bytes.substr(position, newline - position);
    position = newline + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != absl::string_view::npos) return Malformed("bare CR in the request head");
    if (line.empty()) {
      if (!have_request_line) continue;  // RFC 9112 section 2.2: ignore empty lines before it
      RETURN_IF_ERROR(CheckHost(head));
      head.head_bytes = position;
      return head;
    }
    if (!have_request_line) {
      RETURN_IF_ERROR(ParseRequestLine(line, &head));
      have_request_line = true;
    } else {
      RETURN_IF_ERROR(ParseHeaderField(line, &head));
    }
  }
}

int HttpStatusForParseError(const absl::Status& error) {
  switch (error.code()) {
    case absl::StatusCode::kResourceExhausted: return 431;
    case absl::StatusCode::kUnimplemented: return 505;
    default: return 400;
  }
}

absl::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

}  // namespace promptintern
