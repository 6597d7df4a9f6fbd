#include "core/retrieve/bm25.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace promptintern {
namespace {

bool IsTokenByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c >= 0x80;
}

bool IsAsciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char AsciiLower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
}

}  // namespace

std::vector<std::string> Bm25Tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool preceded_by_token =
        i > 0 && IsTokenByte(static_cast<unsigned char>(text[i - 1]));
    const size_t start = i;
    if (c == '-') {
      while (i < n && text[i] == '-') ++i;
      // Dashes opening a token become its prefix ("-la"); inside a word ("well-known") or
      // standing alone they are punctuation.
      const bool opens_token = !preceded_by_token && i < n &&
                               IsTokenByte(static_cast<unsigned char>(text[i]));
      if (!opens_token) continue;
    } else if (!IsTokenByte(c)) {
      ++i;
      continue;
    }
    while (i < n && IsTokenByte(static_cast<unsigned char>(text[i]))) ++i;
    std::string token;
    token.reserve(i - start);
    for (size_t p = start; p < i; ++p) {
      token.push_back(AsciiLower(static_cast<unsigned char>(text[p])));
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::string NormalizeQueryWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char ch : text) {
    if (IsAsciiSpace(static_cast<unsigned char>(ch))) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(ch);
  }
  return out;
}

absl::StatusOr<Bm25Retriever> Bm25Retriever::Build(std::vector<Example> pool,
                                                   Bm25Params params) {
  if (!std::isfinite(params.k1) || params.k1 < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bm25.k1: %g must be finite and >= 0", params.k1));
  }
  if (!(params.b >= 0.0 && params.b <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bm25.b: %g is outside [0, 1]", params.b));
  }

  Bm25Retriever retriever;
  retriever.params_ = params;
  retriever.pool_ = std::move(pool);
  const size_t num_docs = retriever.pool_.size();
  retriever.normalized_queries_.reserve(num_docs);

  std::vector<size_t> doc_lengths(num_docs, 0);
  double total_length = 0.0;
  for (size_t doc = 0; doc < num_docs; ++doc) {
    const std::string& query = retriever.pool_[doc].query;
    retriever.normalized_queries_.push_back(NormalizeQueryWhitespace(query));
    std::vector<std::string> tokens = Bm25Tokenize(query);
    doc_lengths[doc] = tokens.size();
    total_length += static_cast<double>(tokens.size());
    // Documents are visited in index order, so each postings list stays sorted and a
    // repeated term in this document is always the list's last posting.
    for (std::string& token : tokens) {
      std::vector<Posting>& postings = retriever.terms_[std::move(token)].postings;
      if (!postings.empty() && postings.back().doc == doc) {
        ++postings.back().term_frequency;
      } else {
        postings.push_back({doc, 1});
      }
    }
  }

  const double n = static_cast<double>(num_docs);
  for (auto& [term, entry] : retriever.terms_) {
    const double df = static_cast<double>(entry.postings.size());
    entry.idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
  }

  // With every document empty no term can match, so any finite norm will do; 1 avoids 0/0.
  const double average_length = num_docs > 0 ? total_length / n : 0.0;
  retriever.length_norms_.reserve(num_docs);
  for (size_t doc = 0; doc < num_docs; ++doc) {
    const double relative_length =
        average_length > 0.0 ? static_cast<double>(doc_lengths[doc]) / average_length : 1.0;
    retriever.length_norms_.push_back(params.k1 *
                                      (1.0 - params.b + params.b * relative_length));
  }
  return retriever;
}

std::vector<double> Bm25Retriever::ScoreAll(std::string_view query) const {
  std::vector<double> scores(pool_.size(), 0.0);
  for (const std::string& token : Bm25Tokenize(query)) {
    auto it = terms_.find(token);
    if (it == terms_.end()) continue;
    const TermEntry& entry = it->second;
    for (const Posting& posting : entry.postings) {
      const double tf = posting.term_frequency;
      scores[posting.doc] +=
          entry.idf * tf * (params_.k1 + 1.0) / (tf + length_norms_[posting.doc]);
    }
  }
  return scores;
}

double Bm25Retriever::Score(std::string_view query, size_t index) const {
  if (index >= pool_.size()) return 0.0;
  return ScoreAll(query)[index];
}

std::vector<size_t> Bm25Retriever::TopK(std::string_view query, size_t k,
                                        const ExclusionSet& excluded) const {
  if (k == 0 || pool_.empty()) return {};
  const std::string normalized_query = NormalizeQueryWhitespace(query);
  const std::vector<double> scores = ScoreAll(query);

  std::vector<size_t> candidates;
  candidates.reserve(pool_.size());
  for (size_t doc = 0; doc < pool_.size(); ++doc) {
    if (excluded.count(doc) > 0) continue;
    if (normalized_queries_[doc] == normalized_query) continue;
    candidates.push_back(doc);
  }

  const auto better = [&scores](size_t a, size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return a < b;
  };
  const size_t count = std::min(k, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + count, candidates.end(), better);
  candidates.resize(count);
  return candidates;
}

}  // namespace promptintern
