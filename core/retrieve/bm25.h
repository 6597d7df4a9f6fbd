// Okapi BM25 retrieval of few-shot examples from a pool, indexed by each example's query.
//
// Contract of TopK:
//   - It never returns an example whose query equals the caller's query after
//     NormalizeQueryWhitespace (the query's own pair, however many copies the pool
//     holds), nor any pool index in the caller's exclusion set. Equality is exact and
//     case-sensitive apart from whitespace; only ranking uses the tokenizer.
//   - Every other example is a candidate, including ones sharing no term with the
//     query (score 0), so the result has min(k, eligible) entries.
//   - Order: score descending, then pool index ascending, so ties are deterministic.
//
// Scoring, for a query with tokens q_1..q_m (repeats count again, as in rank_bm25):
//   score(D) = sum_i IDF(q_i) * tf(q_i, D) * (k1 + 1)
//                              / (tf(q_i, D) + k1 * (1 - b + b * |D| / avgdl))
//   IDF(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))   (never negative)
// where |D| is D's token count and avgdl the mean over the pool.
//
// A built retriever is immutable; its const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/example.h"

namespace promptintern {

struct Bm25Params {
  double k1 = 1.5;   // term-frequency saturation; must be finite and >= 0
  double b = 0.75;   // length normalisation; must be in [0, 1]
};

// Pool indices the caller forbids (for example, the evaluation item's own source row).
using ExclusionSet = std::unordered_set<size_t>;

// Tokens are maximal runs of ASCII letters/digits (lowercased) or non-ASCII bytes, so
// UTF-8 words survive intact. A run of '-' that starts a token (not preceded by a token
// character) and is followed by one stays attached, so command-line flags keep their
// identity: "ls -la" -> {"ls", "-la"}, "well-known" -> {"well", "known"}. Other
// punctuation separates tokens and is dropped.
std::vector<std::string> Bm25Tokenize(std::string_view text);

// Trims ASCII whitespace and collapses each inner run of it to one space.
std::string NormalizeQueryWhitespace(std::string_view text);

class Bm25Retriever {
 public:
  // Fails with InvalidArgument when the parameters are out of range. An empty pool is
  // allowed; TopK then returns nothing.
  static absl::StatusOr<Bm25Retriever> Build(std::vector<Example> pool,
                                             Bm25Params params = {});

  std::vector<size_t> TopK(std::string_view query, size_t k,
                           const ExclusionSet& excluded = {}) const;

  // The BM25 score of pool[index] for `query`, ignoring the exclusion rules; for
  // diagnostics and tests. Returns 0 for an index outside the pool.
  double Score(std::string_view query, size_t index) const;

  size_t size() const { return pool_.size(); }
  const Example& example(size_t index) const { return pool_[index]; }
  const std::vector<Example>& pool() const { return pool_; }

 private:
  struct Posting {
    size_t doc;
    int term_frequency;
  };
  struct TermEntry {
    double idf = 0.0;
    std::vector<Posting> postings;  // ascending doc index
  };

  Bm25Retriever() = default;

  std::vector<double> ScoreAll(std::string_view query) const;

  Bm25Params params_;
  std::vector<Example> pool_;
  std::vector<std::string> normalized_queries_;
  std::vector<double> length_norms_;  // k1 * (1 - b + b * |D| / avgdl), per document
  std::unordered_map<std::string, TermEntry> terms_;
};

}  // namespace promptintern
