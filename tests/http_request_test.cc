// The /metrics listener's HTTP/1.x request-head parser: complete heads, prefixes that need more
// bytes, and every malformed form answered with its status.
#include "server/common/http_request.h"
#include "tests/status_matchers.h"

#include <gtest/gtest.h>

#include <string>

namespace promptintern {
namespace {

constexpr size_t kLimit = 8192;

HttpRequestHead Complete(const std::string& bytes) {
  auto head = ParseHttpRequestHead(bytes, kLimit);
  EXPECT_THAT(head, IsOk());
  if (!head.ok() || !head->has_value()) {
    ADD_FAILURE() << "not a complete head: " << bytes;
    return {};
  }
  return **head;
}

// The HTTP status the parser's verdict on `bytes` is answered with; 0 for "read more".
int StatusOf(const std::string& bytes, size_t limit = kLimit) {
  auto head = ParseHttpRequestHead(bytes, limit);
  if (!head.ok()) return HttpStatusForParseError(head.status());
  return head->has_value() ? 200 : 0;
}

TEST(HttpRequestHeadTest, ParsesWhatPrometheusSends) {
  const std::string request =
      "GET /metrics HTTP/1.1\r\nHost: 10.0.0.7:9092\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
  const HttpRequestHead head = Complete(request + "trailing bytes are not looked at");
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.path, "/metrics");
  EXPECT_EQ(head.query, "");
  EXPECT_EQ(head.minor_version, 1);
  EXPECT_EQ(head.head_bytes, request.size());
  ASSERT_EQ(head.headers.size(), 5u);
  EXPECT_EQ(head.headers[0].first, "host");
  EXPECT_EQ(head.headers[0].second, "10.0.0.7:9092");
  EXPECT_EQ(head.headers[4].first, "x-prometheus-scrape-timeout-seconds");
}

TEST(HttpRequestHeadTest, SplitsQueryAndAcceptsAbsoluteFormAndHttp10) {
  HttpRequestHead head = Complete("GET /metrics?name[]=up HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.path, "/metrics");
  EXPECT_EQ(head.query, "name[]=up");
  head = Complete("GET http://example.com:9092/metrics?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(head.path, "/metrics");
  EXPECT_EQ(head.query, "a=1");
  head = Complete("GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(head.path, "/");
  head = Complete("HEAD /metrics HTTP/1.0\r\n\r\n");  // HTTP/1.0 needs no Host
  EXPECT_EQ(head.method, "HEAD");
  EXPECT_EQ(head.minor_version, 0);
}

TEST(HttpRequestHeadTest, AcceptsBareLineFeedsLeadingEmptyLinesAndPaddedValues) {
  const HttpRequestHead head = Complete("\r\n\nGET /metrics HTTP/1.1\nHost:\t x \t\nEmpty:\n\n");
  EXPECT_EQ(head.path, "/metrics");
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[0].second, "x");
  EXPECT_EQ(head.headers[1].second, "");
}

TEST(HttpRequestHeadTest, EveryPrefixOfAValidHeadAsksForMoreBytes) {
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
  for (size_t length = 0; length < request.size(); ++length) {
    EXPECT_EQ(StatusOf(request.substr(0, length)), 0) << "prefix of " << length << " bytes";
  }
  EXPECT_EQ(StatusOf(request), 200);
}

TEST(HttpRequestHeadTest, MalformedRequestLinesAre400AsSoonAsTheLineEnds) {
  for (const std::string line : {
           "GET\r\n", "GET /metrics\r\n", "GET  /metrics HTTP/1.1\r\n", "GET /metrics  HTTP/1.1\r\n",
           "G(T /metrics HTTP/1.1\r\n", " GET /metrics HTTP/1.1\r\n", "GET /met rics HTTP/1.1\r\n",
           "GET /metrics HTTP/1.1 \r\n", "GET /metrics http/1.1\r\n", "GET /metrics HTTP/11\r\n",
           "GET /metrics HTTP/1.x\r\n", "GET metrics HTTP/1.1\r\n", "GET ftp://host/metrics HTTP/1.1\r\n",
           "GET http:///metrics HTTP/1.1\r\n", "GET /m\x7f HTTP/1.1\r\n", "GET /\xc3\xa9 HTTP/1.1\r\n",
           "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\n",
       }) {
    EXPECT_EQ(StatusOf(line), 400) << line;
  }
}

TEST(HttpRequestHeadTest, BinaryWithoutALineFeedIs400AtOnce) {
  EXPECT_EQ(StatusOf(std::string("\x16\x03\x01\x02\x00\x01", 6)), 400) << "the start of a TLS ClientHello";
  EXPECT_EQ(StatusOf("PRI * HTTP/2.0\r\n"), 505) << "the HTTP/2 connection preface";
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: x\r\nX: \x01"), 400);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9"), 0) << "obs-text in a value is allowed";
}

TEST(HttpRequestHeadTest, MalformedHeaderFieldsAre400) {
  for (const std::string field : {"NoColon\r\n", "Bad Name: x\r\n", ": empty name\r\n", " folded: x\r\n",
                                  "\tfolded: x\r\n", "Name: a\x01z\r\n", "Name: \x7f\r\n", "Na\"me: x\r\n"}) {
    EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: x\r\n" + field + "\r\n"), 400) << field;
  }
}

TEST(HttpRequestHeadTest, BareCarriageReturnIs400EvenBeforeTheLineEnds) {
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\rHost: x\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: x\rY"), 400);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: x\r"), 0) << "a CR that may still be followed by LF";
}

TEST(HttpRequestHeadTest, Http11NeedsExactlyOneHost) {
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n"), 400);
}

TEST(HttpRequestHeadTest, OtherHttpVersionsAre505) {
  EXPECT_EQ(StatusOf("GET /metrics HTTP/2.0\r\n"), 505);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/1.2\r\n"), 505);
  EXPECT_EQ(StatusOf("GET /metrics HTTP/0.9\r\n"), 505);
}

TEST(HttpRequestHeadTest, OversizedHeadsAndTooManyFieldsAre431) {
  const std::string start = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(StatusOf(start + "X: " + std::string(100, 'a'), 64), 431) << "no end within the limit";
  EXPECT_EQ(StatusOf("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n", 64), 431) << "a request line past it";
  EXPECT_EQ(StatusOf(start + "\r\n", start.size() + 2), 200) << "a head of exactly the limit";
  std::string many = start;
  for (int i = 1; i < kMaxHttpHeaderFields; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  EXPECT_EQ(StatusOf(many + "\r\n"), 200) << kMaxHttpHeaderFields << " fields";
  EXPECT_EQ(StatusOf(many + "One-Too-Many: y\r\n\r\n"), 431);
}

TEST(HttpRequestHeadTest, ErrorsSayWhatIsWrong) {
  auto head = ParseHttpRequestHead("GET /metrics HTTP/1.1\r\n\r\n", kLimit);
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.status().message(), "HTTP/1.1 request without a Host header");
  head = ParseHttpRequestHead("GET /metrics HTTP/3.0\r\n", kLimit);
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.status().message(), "HTTP/3.0 is not supported; use HTTP/1.1");
  EXPECT_EQ(HttpReasonPhrase(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace promptintern
