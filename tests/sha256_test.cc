// SHA-256 against the NIST FIPS 180-2 example vectors, one-shot and streamed.
#include "core/util/sha256.h"
#include "tests/status_matchers.h"

#include <gtest/gtest.h>

#include <string>

namespace promptintern {
namespace {

constexpr char kEmptyDigest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcDigest[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kTwoBlockMessage[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char kTwoBlockDigest[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionADigest[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string HexOrDie(absl::string_view data) {
  absl::StatusOr<std::string> digest = Sha256Hex(data);
  EXPECT_THAT(digest, IsOk());
  return digest.ok() ? *digest : "";
}

TEST(Sha256VectorsTest, NistExamples) {
  EXPECT_EQ(HexOrDie(""), kEmptyDigest);
  EXPECT_EQ(HexOrDie("abc"), kAbcDigest);
  EXPECT_EQ(HexOrDie(kTwoBlockMessage), kTwoBlockDigest);
  EXPECT_EQ(HexOrDie(std::string(1000000, 'a')), kMillionADigest);
}

TEST(Sha256VectorsTest, StreamingInOddChunksMatchesOneShot) {
  const std::string million(1000000, 'a');
  Sha256Hasher hasher;
  // 997 is prime, so chunk boundaries fall at every offset within the 64-byte block.
  for (size_t offset = 0; offset < million.size(); offset += 997) {
    ASSERT_THAT(hasher.Update(absl::string_view(million).substr(offset, 997)), IsOk());
  }
  absl::StatusOr<std::string> digest = hasher.FinishHex();
  ASSERT_THAT(digest, IsOk());
  EXPECT_EQ(*digest, kMillionADigest);
}

TEST(Sha256VectorsTest, EmptyUpdatesChangeNothing) {
  Sha256Hasher hasher;
  ASSERT_THAT(hasher.Update(""), IsOk());
  ASSERT_THAT(hasher.Update("ab"), IsOk());
  ASSERT_THAT(hasher.Update(""), IsOk());
  ASSERT_THAT(hasher.Update("c"), IsOk());
  absl::StatusOr<std::string> digest = hasher.FinishHex();
  ASSERT_THAT(digest, IsOk());
  EXPECT_EQ(*digest, kAbcDigest);
}

TEST(Sha256VectorsTest, FinishedHasherRefusesFurtherUse) {
  Sha256Hasher hasher;
  ASSERT_THAT(hasher.FinishHex(), IsOk());
  EXPECT_THAT(hasher.Update("x"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(hasher.FinishHex(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(Sha256VectorsTest, IsSha256HexAcceptsOnlyCanonicalForm) {
  EXPECT_TRUE(IsSha256Hex(kAbcDigest));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
}

}  // namespace
}  // namespace promptintern
