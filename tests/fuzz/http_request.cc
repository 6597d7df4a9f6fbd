// Fuzz target: the /metrics listener's HTTP request-head parser (server/common/http_request.h).
// The first byte picks the head-size limit, so the 431 paths are reached with small inputs.
// Checked beyond "no crash": a complete head ends inside the input and parses the same from its
// own bytes; an incomplete one is shorter than the limit; errors map to 400, 431 or 505.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/common/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t limit = data[0] < 128 ? 16 + data[0] : 8192;
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto head = promptintern::ParseHttpRequestHead(bytes, limit);
  if (!head.ok()) {
    const int status = promptintern::HttpStatusForParseError(head.status());
    if (status != 400 && status != 431 && status != 505) std::abort();
    return 0;
  }
  if (!head->has_value()) {
    if (bytes.size() >= limit) std::abort();
    return 0;
  }
  const promptintern::HttpRequestHead& parsed = **head;
  if (parsed.head_bytes == 0 || parsed.head_bytes > bytes.size() || parsed.head_bytes > limit) std::abort();
  if (parsed.path.empty() || parsed.path[0] != '/' || parsed.method.empty()) std::abort();
  auto again = promptintern::ParseHttpRequestHead(bytes.substr(0, parsed.head_bytes), limit);
  if (!again.ok() || !again->has_value() || (*again)->path != parsed.path || (*again)->query != parsed.query ||
      (*again)->headers != parsed.headers || (*again)->head_bytes != parsed.head_bytes) {
    std::abort();
  }
  return 0;
}
