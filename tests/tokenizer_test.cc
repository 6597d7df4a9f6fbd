#include "core/tokenizer/tokenizer.h"

#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/util/filenames.h"

#include <gtest/gtest.h>

#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

TEST(TokenizerTest, LoadsTheStories260KTokenizer) {
  const std::string dir = ::promptintern::testing::Stories260KDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  auto tokenizer = Tokenizer::LoadFromDirectory(dir);
  ASSERT_THAT(tokenizer, IsOk());
  EXPECT_EQ((*tokenizer)->file_name(), kSentencePieceModelFile);
  EXPECT_EQ((*tokenizer)->vocab_size(), 512);
  EXPECT_EQ((*tokenizer)->bos_id(), 1);
  EXPECT_EQ((*tokenizer)->eos_id(), 2);
  auto decoded = (*tokenizer)->Decode({403, 407, 261, 378});
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, "Once upon a time");
  auto ids = (*tokenizer)->Encode("Once upon a time");
  ASSERT_THAT(ids, IsOk());
  EXPECT_EQ(*ids, (std::vector<int>{403, 407, 261, 378}));
}

TEST(TokenizerTest, TrainsABpeModelThatRoundTripsText) {
  std::vector<std::string> corpus;
  for (int i = 0; i < 200; ++i) {
    corpus.push_back("find . -name \"*.log\" -mtime -" + std::to_string(i % 7) + " | xargs grep -l error");
    corpus.push_back("List all files in /var/log modified in the last " + std::to_string(i % 9) + " days");
  }
  BpeTrainingOptions options;
  options.vocab_size = 600;  // 256 byte-fallback pieces + 4 specials + merges
  auto tokenizer = TrainBpeTokenizer(corpus, options);
  ASSERT_THAT(tokenizer, IsOk());
  EXPECT_LE((*tokenizer)->vocab_size(), 600);
  EXPECT_EQ((*tokenizer)->pad_id(), 3);
  for (const std::string text : {"find . -name \"*.log\"  -mtime -3", "tar czf a.tgz dir/ && echo done ✓"}) {
    auto ids = (*tokenizer)->Encode(text);
    ASSERT_THAT(ids, IsOk());
    auto back = (*tokenizer)->Decode(*ids);
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(*back, text);
  }
  // Frequent text compresses: far fewer tokens than bytes.
  EXPECT_LT((*tokenizer)->Encode(corpus[0])->size(), corpus[0].size() / 2);
  auto reloaded = Tokenizer::Deserialize((*tokenizer)->Serialize(), "memory");
  ASSERT_THAT(reloaded, IsOk());
  EXPECT_EQ(*(*reloaded)->Encode(corpus[1]), *(*tokenizer)->Encode(corpus[1]));
}

TEST(TokenizerTest, GarbageModelAndBadIdsAreErrors) {
  EXPECT_THAT(Tokenizer::Deserialize("not a model", "junk"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LoadSentencePieceTokenizer("not a model", "junk"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Tokenizer::LoadFromDirectory("/nonexistent"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(TrainBpeTokenizer({}, {}).ok());
  const std::string dir = ::promptintern::testing::Stories260KDir();
  if (dir.empty()) return;
  auto tokenizer = Tokenizer::LoadFromDirectory(dir);
  ASSERT_THAT(tokenizer, IsOk());
  EXPECT_FALSE((*tokenizer)->Decode({5, 9999}).ok());
}

// A 30-byte tokenizer.model (found by the sentencepiece_model fuzz target) on which SentencePiece's
// trie builder throws instead of returning a status: an error, not std::terminate.
TEST(TokenizerTest, AModelSentencePieceThrowsOnIsAnError) {
  const std::string model("\x0a\x0e\x0a\x05<unk>\x15\x00\x00\x00\x00\x18\x02\x0a\x0c\x0a\x03<\x0a\x0e\x0a\x05\x00\x00\x00\x1e>", 30);
  auto tokenizer = LoadSentencePieceTokenizer(model, "found");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(tokenizer, StatusIs(absl::StatusCode::kInvalidArgument)) << tokenizer.status();
  EXPECT_NE(tokenizer.status().message().find("SentencePiece cannot build the model"), std::string::npos)
      << tokenizer.status();
}

}  // namespace
}  // namespace promptintern
