// Corpus BLEU that reproduces sacrebleu's numbers (Post 2018, "A Call for Clarity in Reporting
// BLEU Scores"), so scores reported by this service are comparable with published ones.
//
// Contract: with default BleuOptions, CorpusBleu(hyps, refs) equals
// `sacrebleu.corpus_bleu(hyps, [refs]).score` (sacrebleu >= 2.0 defaults: 13a tokenisation,
// smooth_method='exp', max n-gram order 4, effective_order=False, lowercase=False) up to
// floating-point rounding. Every segment is right-stripped of whitespace before tokenisation,
// exactly as sacrebleu does. Inputs are UTF-8; "whitespace" means Python's str.isspace() set.
//
// Where sacrebleu raises, crashes or silently truncates, these functions return
// InvalidArgument instead: an empty corpus, hypothesis/reference streams of different lengths,
// or a segment whose references are all empty strings.
// Empty hypotheses are legal and count as zero-length output (they are not removed).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace promptintern {

inline constexpr int kBleuMaxNgramOrder = 4;

enum class BleuTokenizer {
  k13a,  // mteval-v13a, sacrebleu's default.
  kNone  // Split on whitespace only (sacrebleu tokenize='none').
};

// Chen & Cherry (2014) smoothing methods, named as in sacrebleu.
enum class BleuSmoothing {
  kExp,    // NIST geometric sequence: the k-th zero-match order gets precision 1/(2^k * total).
  kFloor,  // Zero-match orders get precision smooth_value / total.
  kAddK,   // Orders n >= 2 get smooth_value added to both matches and totals.
  kNone    // A zero-match order makes the score 0.
};

struct BleuOptions {
  BleuTokenizer tokenizer = BleuTokenizer::k13a;
  BleuSmoothing smoothing = BleuSmoothing::kExp;
  // Used by kFloor and kAddK only; negative means "sacrebleu's default" (0.1 and 1.0).
  double smooth_value = -1.0;
  // Average only over the orders up to the highest one that has any hypothesis n-grams; meant
  // for sentence-level BLEU (sacrebleu's effective_order=True).
  bool effective_order = false;
};

struct BleuScore {
  double score = 0.0;  // 0..100.
  // Clipped n-gram matches and hypothesis n-grams per order, before any add-k smoothing (which
  // sacrebleu folds into the counts it reports).
  std::array<int64_t, kBleuMaxNgramOrder> matches{};
  std::array<int64_t, kBleuMaxNgramOrder> totals{};
  int64_t hyp_len = 0;  // Hypothesis tokens in the corpus.
  int64_t ref_len = 0;  // Reference tokens (closest reference length per segment).
  double brevity_penalty = 0.0;
  // Smoothed precisions in percent, as sacrebleu reports them. Orders past the first order with
  // no hypothesis n-grams stay 0.
  std::array<double, kBleuMaxNgramOrder> precisions{};
};

// sacrebleu's tokenizer_13a (mteval-v13a): removes "<skipped>", joins "-\n" continuations,
// turns other newlines into spaces, unescapes &quot; &amp; &lt; &gt;, then pads with spaces
// every ASCII punctuation character except  ' - . ,  ; splits '.' and ',' off unless a digit
// sits on both sides; splits '-' off after a digit. These are applied as the same left-to-right
// regex passes as sacrebleu, so corner cases such as "a..." agree too. Returns the tokens
// joined by single spaces.
// No right-stripping happens here (CorpusBleu does it first, like sacrebleu).
std::string Tokenize13a(std::string_view line);

// One reference per hypothesis.
absl::StatusOr<BleuScore> CorpusBleu(const std::vector<std::string>& hypotheses,
                                     const std::vector<std::string>& references,
                                     const BleuOptions& options = {});

// Several references per hypothesis, laid out as sacrebleu does: reference_streams[k][i] is
// the k-th reference of hypothesis i. Empty strings are "no reference" for that segment;
// n-gram counts are clipped by the maximum count over the segment's references and the
// reference length is the closest one to the hypothesis length (ties -> the shorter).
absl::StatusOr<BleuScore> CorpusBleuMultiReference(
    const std::vector<std::string>& hypotheses,
    const std::vector<std::vector<std::string>>& reference_streams,
    const BleuOptions& options = {});

// The final BLEU formula from aggregated statistics (sacrebleu's BLEU.compute_bleu). Note the
// default smoothing here is the corpus default (kExp), unlike sacrebleu's compute_bleu ('none').
BleuScore BleuFromStatistics(const std::array<int64_t, kBleuMaxNgramOrder>& matches,
                             const std::array<int64_t, kBleuMaxNgramOrder>& totals,
                             int64_t hyp_len, int64_t ref_len, const BleuOptions& options = {});

}  // namespace promptintern
