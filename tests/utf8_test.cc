// CheckUtf8 against the RFC 3629 table: every boundary of every sequence length, overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences.
#include "core/util/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace promptintern {
namespace {

bool Valid(const std::string& text) { return CheckUtf8(text, "text").ok(); }

TEST(CheckUtf8Test, AcceptsEverySequenceLengthAtItsBoundaries) {
  EXPECT_TRUE(Valid(""));
  EXPECT_TRUE(Valid(std::string("a\0b", 3)));
  EXPECT_TRUE(Valid("\x7f"));
  EXPECT_TRUE(Valid("\xc2\x80"));          // U+0080
  EXPECT_TRUE(Valid("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(Valid("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(Valid("\xed\x9f\xbf"));      // U+D7FF
  EXPECT_TRUE(Valid("\xee\x80\x80"));      // U+E000
  EXPECT_TRUE(Valid("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(Valid("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(Valid("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_TRUE(Valid("ls -la ~/café 日本 🙂"));
}

TEST(CheckUtf8Test, RefusesOverlongSurrogateOutOfRangeStrayAndTruncatedBytes) {
  for (const std::string bad : {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80",
                                "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                "\xff", "\xfe", "\xc3", "\xe2\x82", "\xf0\x9f\x99", "\xc3\x28", "\xe2\x28\xa1"}) {
    EXPECT_FALSE(Valid(bad)) << testing::PrintToString(bad);
  }
}

TEST(CheckUtf8Test, NamesTheFieldAndTheOffset) {
  const absl::Status status = CheckUtf8("abc\xe2\x82\xac\xff", "stop[2]");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "stop[2] is not valid UTF-8 (byte 6)");
}

}  // namespace
}  // namespace promptintern
