#include "core/retrieve/bm25.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

using Tokens = std::vector<std::string>;
using Indices = std::vector<size_t>;

bool Contains(const Indices& indices, size_t value) {
  return std::find(indices.begin(), indices.end(), value) != indices.end();
}

bool HasSubstr(const absl::Status& status, std::string_view part) {
  return std::string(status.message()).find(part) != std::string::npos;
}

// Lengths 3, 5, 5, 3 (avgdl = 4); "files" appears in docs 0, 1, 3 (twice in 3).
std::vector<Example> ToyPool() {
  return {
      {"list all files", "ls"},
      {"list hidden files with -la", "ls -la"},
      {"count lines in a file", "wc -l f"},
      {"remove files files", "rm f f"},
  };
}

Bm25Retriever BuildOrDie(std::vector<Example> pool, Bm25Params params = {}) {
  absl::StatusOr<Bm25Retriever> retriever = Bm25Retriever::Build(std::move(pool), params);
  EXPECT_THAT(retriever, IsOk());
  return *std::move(retriever);
}

TEST(Bm25TokenizeTest, LowercasesSplitsOnPunctuationAndKeepsFlags) {
  EXPECT_EQ(Bm25Tokenize("List ALL files, (-la) well-known --help - -- x"),
            (Tokens{"list", "all", "files", "-la", "well", "known", "--help", "x"}));
  EXPECT_EQ(Bm25Tokenize("  \t"), Tokens{});
  EXPECT_EQ(Bm25Tokenize("a--b -x-y"), (Tokens{"a", "b", "-x", "y"}));
  EXPECT_EQ(Bm25Tokenize("caf\xC3\xA9 42"), (Tokens{"caf\xC3\xA9", "42"}));
}

TEST(Bm25QueryWhitespaceTest, TrimsAndCollapses) {
  EXPECT_EQ(NormalizeQueryWhitespace("  a \t\n b  c "), "a b c");
  EXPECT_EQ(NormalizeQueryWhitespace(""), "");
}

TEST(Bm25RetrieverTest, ScoresMatchHandComputedFormula) {
  const Bm25Retriever retriever = BuildOrDie(ToyPool());
  const double k1 = 1.5, b = 0.75, avgdl = 4.0;
  // N = 4; df(list) = 2, df(files) = 3.
  const double idf_list = std::log(1.0 + (4 - 2 + 0.5) / (2 + 0.5));
  const double idf_files = std::log(1.0 + (4 - 3 + 0.5) / (3 + 0.5));
  auto term = [&](double idf, double tf, double length) {
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl));
  };
  const double doc0 = term(idf_list, 1, 3) + term(idf_files, 1, 3);
  const double doc1 = term(idf_list, 1, 5) + term(idf_files, 1, 5);
  const double doc3 = term(idf_files, 2, 3);

  EXPECT_NEAR(retriever.Score("list files", 0), doc0, 1e-12);
  EXPECT_NEAR(retriever.Score("list files", 1), doc1, 1e-12);
  EXPECT_NEAR(retriever.Score("list files", 2), 0.0, 1e-12);
  EXPECT_NEAR(retriever.Score("list files", 3), doc3, 1e-12);
  // Independently computed numbers, guarding the formula in this test as well.
  EXPECT_NEAR(doc0, 1.1828981684492144, 1e-9);
  EXPECT_NEAR(doc1, 0.9436603366280248, 1e-9);
  EXPECT_NEAR(doc3, 0.5540581653417203, 1e-9);

  EXPECT_EQ(retriever.TopK("list files", 4), (Indices{0, 1, 3, 2}));
  EXPECT_EQ(retriever.TopK("LIST, files!", 2), (Indices{0, 1}));
}

TEST(Bm25RetrieverTest, RepeatedQueryTermCountsAgain) {
  const Bm25Retriever retriever = BuildOrDie(ToyPool());
  EXPECT_NEAR(retriever.Score("files files", 3), 2 * retriever.Score("files", 3), 1e-12);
}

TEST(Bm25RetrieverTest, CustomParamsAreUsed) {
  // b = 0 removes length normalisation; k1 = 0 makes every match worth exactly its IDF.
  const Bm25Retriever retriever = BuildOrDie(ToyPool(), Bm25Params{0.0, 0.0});
  const double idf_files = std::log(1.0 + (4 - 3 + 0.5) / (3 + 0.5));
  EXPECT_NEAR(retriever.Score("files", 1), idf_files, 1e-12);
  EXPECT_NEAR(retriever.Score("files", 3), idf_files, 1e-12);
}

TEST(Bm25RetrieverTest, NeverReturnsTheQueryItselfEvenWhenPooledSeveralTimes) {
  std::vector<Example> pool = ToyPool();
  pool.push_back({"list all files", "ls ."});             // 4: exact duplicate
  pool.push_back({"  list\tall   files \n", "ls ./"});   // 5: same after normalisation
  pool.push_back({"list all files now", "ls"});           // 6: a different query
  const Bm25Retriever retriever = BuildOrDie(std::move(pool));

  const std::vector<size_t> top = retriever.TopK(" list all  files", 100);
  EXPECT_FALSE(Contains(top, 0));
  EXPECT_FALSE(Contains(top, 4));
  EXPECT_FALSE(Contains(top, 5));
  EXPECT_EQ(top.size(), 4u);  // the remaining docs 1, 2, 3, 6
  EXPECT_EQ(top.front(), 6u);
}

TEST(Bm25RetrieverTest, ExclusionSetIsHonoured) {
  const Bm25Retriever retriever = BuildOrDie(ToyPool());
  EXPECT_EQ(retriever.TopK("list files", 4, {0}), (Indices{1, 3, 2}));
  EXPECT_TRUE(retriever.TopK("list files", 4, {0, 1, 2, 3}).empty());
  EXPECT_EQ(retriever.TopK("list files", 2, {1, 99}), (Indices{0, 3}));
}

TEST(Bm25RetrieverTest, TiesBreakByIndexDeterministically) {
  const Bm25Retriever retriever = BuildOrDie({
      {"alpha beta", "1"},
      {"gamma delta", "2"},
      {"alpha beta", "3"},
      {"epsilon zeta", "4"},
      {"alpha beta", "5"},
  });
  EXPECT_EQ(retriever.Score("alpha", 0), retriever.Score("alpha", 2));
  EXPECT_EQ(retriever.TopK("alpha", 5), (Indices{0, 2, 4, 1, 3}));
  EXPECT_EQ(retriever.TopK("alpha", 2), (Indices{0, 2}));
  // Nothing matches: every candidate scores 0 and the order is the pool order.
  EXPECT_EQ(retriever.TopK("unrelated words", 3), (Indices{0, 1, 2}));
}

TEST(Bm25RetrieverTest, SizeLimits) {
  const Bm25Retriever retriever = BuildOrDie(ToyPool());
  EXPECT_EQ(retriever.TopK("list files", 1000).size(), 4u);
  EXPECT_TRUE(retriever.TopK("list files", 0).empty());

  const Bm25Retriever empty = BuildOrDie({});
  EXPECT_TRUE(empty.TopK("list files", 3).empty());
  EXPECT_EQ(empty.Score("list files", 0), 0.0);
}

TEST(Bm25RetrieverTest, InvalidParamsAreRejectedByName) {
  absl::StatusOr<Bm25Retriever> bad_b = Bm25Retriever::Build(ToyPool(), Bm25Params{1.5, 1.5});
  ASSERT_FALSE(bad_b.ok());
  EXPECT_THAT(bad_b, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(HasSubstr(bad_b.status(), "bm25.b")) << bad_b.status();

  absl::StatusOr<Bm25Retriever> bad_k1 =
      Bm25Retriever::Build(ToyPool(), Bm25Params{-1.0, 0.75});
  ASSERT_FALSE(bad_k1.ok());
  EXPECT_TRUE(HasSubstr(bad_k1.status(), "bm25.k1")) << bad_k1.status();

  EXPECT_FALSE(Bm25Retriever::Build(ToyPool(), Bm25Params{NAN, 0.75}).ok());
  EXPECT_FALSE(Bm25Retriever::Build(ToyPool(), Bm25Params{1.5, NAN}).ok());
}

}  // namespace
}  // namespace promptintern
