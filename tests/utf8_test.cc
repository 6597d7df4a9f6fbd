// CheckUtf8 and FirstInvalidUtf8 against the RFC 3629 table: every boundary of every sequence length, overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences.
#include "core/util/utf8.h"
#include "tests/status_matchers.h"

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
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(status.message(), "stop[2] is not valid UTF-8 (byte 0xFF at offset 6)");
}

TEST(CheckUtf8Test, FirstInvalidUtf8FindsTheFirstBadSequence) {
  EXPECT_THAT(CheckUtf8("plain ascii", "t"), IsOk());
  EXPECT_THAT(CheckUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "t"), IsOk());  // é € 😀
  EXPECT_THAT(CheckUtf8("\xf4\x8f\xbf\xbf", "t"), IsOk());                              // U+10FFFF
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"ab\xff", 2},                 // never valid
      {"\xc0\xaf", 0},               // overlong '/'
      {"\xe0\x80\xaf", 0},           // overlong, three bytes
      {"\xed\xa0\x80", 0},           // surrogate U+D800
      {"\xf4\x90\x80\x80", 0},       // above U+10FFFF
      {"ok\xe2\x82", 2},             // cut short
      {"\xc3\x28", 0},               // bad continuation
      {"x\x80", 1},                  // stray continuation
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FirstInvalidUtf8(c.text), c.offset) << c.text;
    EXPECT_THAT(CheckUtf8(c.text, "t"), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_NE(std::string(CheckUtf8("ab\xff", "template.txt").message()).find("template.txt is not valid UTF-8 (byte "
                                                                            "0xFF at offset 2)"),
            std::string::npos);
}

}  // namespace
}  // namespace promptintern
