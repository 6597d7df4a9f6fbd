#include "core/eval/bleu.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

// sacrebleu's own tolerance in test/test_bleu.py.
constexpr double kSacrebleuEpsilon = 1e-8;
// sacrebleu's tolerance in test/test_sentence_bleu.py.
constexpr double kSentenceBleuEpsilon = 1e-3;

using Counts = std::array<int64_t, kBleuMaxNgramOrder>;

BleuScore ScoreOrDie(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                     const BleuOptions& options = {}) {
  absl::StatusOr<BleuScore> score = CorpusBleu(hyps, refs, options);
  EXPECT_THAT(score, IsOk());
  return score.ok() ? *score : BleuScore{};
}

// The options sacrebleu's compat.raw_corpus_bleu(sys, refs, smooth_value) uses:
// tokenize='none', smooth_method='floor', use_effective_order=True.
BleuOptions RawCorpusBleuOptions(double smooth_value) {
  BleuOptions options;
  options.tokenizer = BleuTokenizer::kNone;
  options.smoothing = BleuSmoothing::kFloor;
  options.smooth_value = smooth_value;
  options.effective_order = true;
  return options;
}

// ---------------------------------------------------------------------------------------------
// Tokenize13a. The first case is from flexeval's test_sacrebleu_13a_tokenizer; the others were
// derived by applying the four mteval-v13a regexes of sacrebleu/tokenizers/tokenizer_re.py (and
// the replacements of tokenizer_13a.py) by hand, and double-checked with Python's `re` module.

TEST(Tokenize13aTest, SplitsFinalPeriodButKeepsApostrophe) {
  EXPECT_EQ(Tokenize13a("I'm a student."), "I'm a student .");
}

TEST(Tokenize13aTest, SplitsAsciiPunctuation) {
  EXPECT_EQ(Tokenize13a("Hello, world!"), "Hello , world !");
  EXPECT_EQ(Tokenize13a("(a)[b]{c}"), "( a ) [ b ] { c }");
  EXPECT_EQ(Tokenize13a("x=y+z*2;"), "x = y + z * 2 ;");
  EXPECT_EQ(Tokenize13a("@user #tag"), "@ user # tag");
  EXPECT_EQ(Tokenize13a("a/b\\c"), "a / b \\ c");
  EXPECT_EQ(Tokenize13a("`cmd`"), "` cmd `");
  EXPECT_EQ(Tokenize13a("$5.00"), "$ 5.00");
  EXPECT_EQ(Tokenize13a("10.5%"), "10.5 %");
}

TEST(Tokenize13aTest, KeepsApostrophesAndInnerDashes) {
  EXPECT_EQ(Tokenize13a("it's 'q'"), "it's 'q'");
  EXPECT_EQ(Tokenize13a("well-known"), "well-known");
}

TEST(Tokenize13aTest, PeriodAndCommaStayInsideNumbersOnly) {
  EXPECT_EQ(Tokenize13a("3.14 and 1,000 people"), "3.14 and 1,000 people");
  EXPECT_EQ(Tokenize13a("1.a"), "1 . a");
  EXPECT_EQ(Tokenize13a("a.1"), "a . 1");
  EXPECT_EQ(Tokenize13a("a,1"), "a , 1");
  EXPECT_EQ(Tokenize13a("Mr. Smith, Jr."), "Mr . Smith , Jr .");
  EXPECT_EQ(Tokenize13a("e.g. U.S.A."), "e . g . U . S . A .");
}

TEST(Tokenize13aTest, LeadingPeriodIsSplitThanksToPadding) {
  EXPECT_EQ(Tokenize13a(".5 end."), ". 5 end .");
}

// re.sub resumes after each two-character match; these runs exercise that.
TEST(Tokenize13aTest, RunsOfPeriodsAndCommasMatchNonOverlappingRegexSemantics) {
  EXPECT_EQ(Tokenize13a("a..."), "a . . .");
  EXPECT_EQ(Tokenize13a("a..b"), "a . . b");
  EXPECT_EQ(Tokenize13a("1,,2"), "1 , , 2");
  EXPECT_EQ(Tokenize13a("1.,a"), "1 . , a");
  EXPECT_EQ(Tokenize13a("..."), ". . .");
}

TEST(Tokenize13aTest, DashIsSplitAfterADigitOnly) {
  EXPECT_EQ(Tokenize13a("pages 10-20"), "pages 10 - 20");
  EXPECT_EQ(Tokenize13a("x-1-2"), "x-1 - 2");
  EXPECT_EQ(Tokenize13a("5-"), "5 -");
}

TEST(Tokenize13aTest, UnescapesEntitiesSequentially) {
  EXPECT_EQ(Tokenize13a("&quot;quoted&quot; &amp; &lt;tag&gt;"), "\" quoted \" & < tag >");
  EXPECT_EQ(Tokenize13a("&lt;&gt;"), "< >");
  // "&amp;quot;" -> "&quot;" only after the &quot; pass has run, so it stays literal.
  EXPECT_EQ(Tokenize13a("&amp;quot;"), "& quot ;");
}

TEST(Tokenize13aTest, SkippedMarkersAndLineContinuations) {
  EXPECT_EQ(Tokenize13a("<skipped>word"), "word");
  EXPECT_EQ(Tokenize13a("<skip<skipped>ped>"), "< skipped >");  // Single pass, like str.replace.
  EXPECT_EQ(Tokenize13a("line-\ncontinued"), "linecontinued");
  EXPECT_EQ(Tokenize13a("a\nb"), "a b");
  EXPECT_EQ(Tokenize13a("a-\n"), "a");
}

TEST(Tokenize13aTest, CollapsesWhitespaceIncludingUnicodeSpaces) {
  EXPECT_EQ(Tokenize13a("  sp  ace\tt  "), "sp ace t");
  EXPECT_EQ(Tokenize13a("a\xC2\xA0" "b"), "a b");          // U+00A0 NO-BREAK SPACE.
  EXPECT_EQ(Tokenize13a("a\xE3\x80\x80" "b"), "a b");      // U+3000 IDEOGRAPHIC SPACE.
  EXPECT_EQ(Tokenize13a("a\xE2\x80\x8B" "b"), "a\xE2\x80\x8B" "b");  // U+200B is not a space.
  EXPECT_EQ(Tokenize13a(""), "");
  EXPECT_EQ(Tokenize13a(" \t\n"), "");
}

TEST(Tokenize13aTest, LeavesNonAsciiLettersAlone) {
  EXPECT_EQ(Tokenize13a("caf\xC3\xA9, na\xC3\xAFve."), "caf\xC3\xA9 , na\xC3\xAFve .");
  EXPECT_EQ(Tokenize13a("\xC2\xBFQu\xC3\xA9?"), "\xC2\xBFQu\xC3\xA9 ?");  // "¿" is not ASCII.
}

// ---------------------------------------------------------------------------------------------
// Corpus BLEU against sacrebleu's test-suite (mjpost/sacrebleu, test/test_bleu.py, 2.x).

// The README example: two reference streams.
const std::vector<std::string> kReadmeHyps = {
    "The dog bit the man.",
    "It wasn't surprising.",
    "The man had just bitten him.",
};
const std::vector<std::vector<std::string>> kReadmeRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."},
};

// test_corpus_bleu, default settings: 48.530827. The README prints the details:
// "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)".
TEST(CorpusBleuTest, SacrebleuReadmeExampleWithDefaults) {
  absl::StatusOr<BleuScore> bleu = CorpusBleuMultiReference(kReadmeHyps, kReadmeRefs);
  ASSERT_THAT(bleu, IsOk());
  EXPECT_NEAR(bleu->score, 48.530827, kSacrebleuEpsilon);
  EXPECT_EQ(bleu->hyp_len, 17);
  EXPECT_EQ(bleu->ref_len, 18);
  EXPECT_NEAR(bleu->brevity_penalty, 0.943, 5e-4);
  EXPECT_NEAR(bleu->brevity_penalty, std::exp(1.0 - 18.0 / 17.0), 1e-15);
  EXPECT_NEAR(bleu->precisions[0], 82.4, 0.05);
  EXPECT_NEAR(bleu->precisions[1], 50.0, 0.05);
  EXPECT_NEAR(bleu->precisions[2], 45.5, 0.05);
  EXPECT_NEAR(bleu->precisions[3], 37.5, 0.05);
  // The precisions are exact ratios of the counts: 14/17, 7/14, 5/11, 3/8.
  EXPECT_EQ(bleu->matches, (Counts{14, 7, 5, 3}));
  EXPECT_EQ(bleu->totals, (Counts{17, 14, 11, 8}));
}

// test_corpus_bleu: tokenize='none' gives 49.1919566.
TEST(CorpusBleuTest, SacrebleuReadmeExampleWithoutTokenization) {
  BleuOptions options;
  options.tokenizer = BleuTokenizer::kNone;
  absl::StatusOr<BleuScore> bleu = CorpusBleuMultiReference(kReadmeHyps, kReadmeRefs, options);
  ASSERT_THAT(bleu, IsOk());
  EXPECT_NEAR(bleu->score, 49.1919566, kSacrebleuEpsilon);
}

// test_corpus_bleu: smooth_method='none' changes nothing here (every order has matches).
TEST(CorpusBleuTest, SacrebleuReadmeExampleWithoutSmoothing) {
  BleuOptions options;
  options.smoothing = BleuSmoothing::kNone;
  absl::StatusOr<BleuScore> bleu = CorpusBleuMultiReference(kReadmeHyps, kReadmeRefs, options);
  ASSERT_THAT(bleu, IsOk());
  EXPECT_NEAR(bleu->score, 48.530827, kSacrebleuEpsilon);
}

// test_corpus_bleu: ('', '', '') scores 0.0 and the empty hypotheses are not removed.
TEST(CorpusBleuTest, EmptyHypothesesScoreZeroAndStillCountReferenceLength) {
  absl::StatusOr<BleuScore> bleu = CorpusBleuMultiReference({"", "", ""}, kReadmeRefs);
  ASSERT_THAT(bleu, IsOk());
  EXPECT_EQ(bleu->score, 0.0);
  EXPECT_EQ(bleu->hyp_len, 0);
  // Closest reference lengths (ties towards the shorter) are 6, 5 and 6 tokens.
  EXPECT_EQ(bleu->ref_len, 17);
  EXPECT_EQ(bleu->brevity_penalty, 0.0);
}

// test_raw_bleu (raw_corpus_bleu with smooth_value=.01).
TEST(CorpusBleuTest, SacrebleuRawBleuCases) {
  EXPECT_NEAR(ScoreOrDie({"this is a test", "another test"}, {"ref1", "ref2"},
                         RawCorpusBleuOptions(0.01))
                      .score / 100.0,
              0.0, kSacrebleuEpsilon);
  EXPECT_NEAR(ScoreOrDie({"this is a test"}, {"this is a test"}, RawCorpusBleuOptions(0.01))
                      .score / 100.0,
              1.0, kSacrebleuEpsilon);
  EXPECT_NEAR(ScoreOrDie({"this is a fest"}, {"this is a test"}, RawCorpusBleuOptions(0.01))
                      .score / 100.0,
              0.223606797749979, kSacrebleuEpsilon);
}

// test_effective_order.
TEST(CorpusBleuTest, SacrebleuEffectiveOrderCases) {
  EXPECT_NEAR(ScoreOrDie({"test"}, {"a test"}, RawCorpusBleuOptions(0.01)).score / 100.0,
              0.3678794411714425, kSacrebleuEpsilon);
  EXPECT_NEAR(ScoreOrDie({"a test"}, {"a test"}, RawCorpusBleuOptions(0.01)).score / 100.0, 1.0,
              kSacrebleuEpsilon);
  EXPECT_NEAR(ScoreOrDie({"a little test"}, {"a test"}, RawCorpusBleuOptions(0.01)).score / 100.0,
              0.03218297948685433, kSacrebleuEpsilon);
}

// test_statistics.
TEST(CorpusBleuTest, SacrebleuStatisticsCase) {
  const BleuScore bleu = ScoreOrDie({"am I am a character sequence"},
                                    {"I am a symbol string sequence a a"},
                                    RawCorpusBleuOptions(0.01));
  EXPECT_EQ(bleu.matches, (Counts{4, 2, 1, 0}));
  EXPECT_EQ(bleu.totals, (Counts{6, 5, 4, 3}));
  EXPECT_EQ(bleu.hyp_len, 6);
  EXPECT_EQ(bleu.ref_len, 8);
}

// test_offset: floor 0.0 gives 0; floor with the default value (0.1) gives 0.1555722182.
TEST(CorpusBleuTest, SacrebleuOffsetCase) {
  const std::vector<std::string> hyp = {"am I am a character sequence"};
  const std::vector<std::string> ref = {"I am a symbol string sequence a a"};
  EXPECT_NEAR(ScoreOrDie(hyp, ref, RawCorpusBleuOptions(0.0)).score / 100.0, 0.0,
              kSacrebleuEpsilon);
  EXPECT_NEAR(ScoreOrDie(hyp, ref, RawCorpusBleuOptions(-1.0)).score / 100.0, 0.1555722182,
              kSacrebleuEpsilon);
}

// test_scoring: BLEU.compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) with its default 'none'.
TEST(BleuFromStatisticsTest, SacrebleuScoringCase) {
  BleuOptions options;
  options.smoothing = BleuSmoothing::kNone;
  const BleuScore bleu = BleuFromStatistics({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11, options);
  EXPECT_NEAR(bleu.score / 100.0, 0.8375922397, kSacrebleuEpsilon);
  EXPECT_EQ(bleu.brevity_penalty, 1.0);
}

// test_degenerate_statistics: floor smoothing with the given value must give exactly 0.
TEST(BleuFromStatisticsTest, SacrebleuDegenerateStatisticsGiveExactlyZero) {
  struct Case {
    Counts matches, totals;
    int64_t hyp_len, ref_len;
    double floor;
  };
  const std::vector<Case> cases = {
      {{0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, 0.0},    {{0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, 0.0},
      {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.0},    {{6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, 0.0},
      {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.1},    {{0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, 0.01},
  };
  for (const Case& c : cases) {
    BleuOptions options;
    options.smoothing = BleuSmoothing::kFloor;
    options.smooth_value = c.floor;
    EXPECT_EQ(BleuFromStatistics(c.matches, c.totals, c.hyp_len, c.ref_len, options).score, 0.0);
  }
}

// test_sentence_bleu.py (example from sacrebleu issue #98): sentence-level BLEU is corpus BLEU
// of one segment with effective_order=True. Non-ASCII text exercises the UTF-8 handling.
TEST(CorpusBleuTest, SacrebleuSentenceBleuSmoothingVariants) {
  const std::string ref = "produc\xC5\xA3ia de zah\xC4\x83r brut se exprim\xC4\x83 \xC3\xAEn "
                          "zah\xC4\x83r alb;";
  const std::string sys = "Produc\xC8\x9Bia de zah\xC4\x83r prim\xC4\x83 va fi exprimat\xC4\x83 "
                          "\xC3\xAEn ceea ce prive\xC8\x99te zah\xC4\x83rul alb;";
  struct Case {
    BleuSmoothing smoothing;
    double smooth_value;  // Negative: sacrebleu's default.
    BleuTokenizer tokenizer;
    double expected;
  };
  const std::vector<Case> cases = {
      {BleuSmoothing::kExp, -1, BleuTokenizer::k13a, 8.493},
      {BleuSmoothing::kNone, -1, BleuTokenizer::k13a, 0.0},
      {BleuSmoothing::kFloor, -1, BleuTokenizer::k13a, 4.51688},
      {BleuSmoothing::kFloor, 0.1, BleuTokenizer::k13a, 4.51688},
      {BleuSmoothing::kFloor, 0.5, BleuTokenizer::k13a, 10.10},
      {BleuSmoothing::kAddK, -1, BleuTokenizer::k13a, 14.882},
      {BleuSmoothing::kAddK, 1, BleuTokenizer::k13a, 14.882},
      {BleuSmoothing::kAddK, 2, BleuTokenizer::k13a, 21.389},
      {BleuSmoothing::kExp, -1, BleuTokenizer::kNone, 7.347},
  };
  for (const Case& c : cases) {
    BleuOptions options;
    options.smoothing = c.smoothing;
    options.smooth_value = c.smooth_value;
    options.tokenizer = c.tokenizer;
    options.effective_order = true;
    EXPECT_NEAR(ScoreOrDie({sys}, {ref}, options).score, c.expected, kSentenceBleuEpsilon)
        << "smoothing " << static_cast<int>(c.smoothing) << " value " << c.smooth_value;
  }
}

// test_sentence_bleu.py, sacrebleu issue #141: no matching n-gram -> 0 for every smoothing.
TEST(CorpusBleuTest, NoMatchesScoreZeroWhateverTheSmoothing) {
  for (BleuSmoothing smoothing :
       {BleuSmoothing::kExp, BleuSmoothing::kNone, BleuSmoothing::kFloor, BleuSmoothing::kAddK}) {
    BleuOptions options;
    options.smoothing = smoothing;
    options.effective_order = true;
    EXPECT_EQ(ScoreOrDie({"this is a cat"}, {"okay thanks"}, options).score, 0.0);
    options.effective_order = false;
    EXPECT_EQ(ScoreOrDie({"this is a cat"}, {"okay thanks"}, options).score, 0.0);
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants and hand-computed values.

TEST(CorpusBleuTest, IdenticalCorpusScoresHundred) {
  const std::vector<std::string> text = {"the quick brown fox jumps", "over the lazy dog ."};
  const BleuScore bleu = ScoreOrDie(text, text);
  EXPECT_NEAR(bleu.score, 100.0, 1e-9);
  EXPECT_EQ(bleu.brevity_penalty, 1.0);
  EXPECT_EQ(bleu.matches, bleu.totals);
}

// Corpus BLEU pools counts over segments; it is not the mean of sentence scores. Hand-computed:
// "a b c d" vs itself gives 4/3/2/1 matches of 4/3/2/1; "x" vs "y" adds one unmatched unigram.
// Precisions 4/5, 3/3, 2/2, 1/1 -> BLEU = (0.8)^(1/4) * 100, no brevity penalty (5 vs 5).
TEST(CorpusBleuTest, PoolsCountsAcrossSegments) {
  const BleuScore bleu = ScoreOrDie({"a b c d", "x"}, {"a b c d", "y"});
  EXPECT_EQ(bleu.matches, (Counts{4, 3, 2, 1}));
  EXPECT_EQ(bleu.totals, (Counts{5, 3, 2, 1}));
  EXPECT_NEAR(bleu.score, 100.0 * std::pow(0.8, 0.25), 1e-12);
}

// Exp smoothing by hand: "a b c x" vs "a b c d": matches 3/2/1/0 of 4/3/2/1; the 4-gram
// precision becomes 1/(2*1) -> BLEU = (3/4 * 2/3 * 1/2 * 1/2)^(1/4) * 100 = 0.125^(1/4) * 100.
TEST(CorpusBleuTest, ExpSmoothingHalvesTheFirstZeroOrder) {
  const BleuScore bleu = ScoreOrDie({"a b c x"}, {"a b c d"});
  EXPECT_EQ(bleu.matches, (Counts{3, 2, 1, 0}));
  EXPECT_DOUBLE_EQ(bleu.precisions[3], 50.0);
  EXPECT_NEAR(bleu.score, 100.0 * std::pow(0.125, 0.25), 1e-12);
}

// Clipping: "the the the" vs "the cat": unigram matches are clipped to 1 of 3; brevity: none.
TEST(CorpusBleuTest, ClipsRepeatedNgrams) {
  const BleuScore bleu = ScoreOrDie({"the the the"}, {"the cat"});
  EXPECT_EQ(bleu.matches[0], 1);
  EXPECT_EQ(bleu.totals[0], 3);
  EXPECT_EQ(bleu.totals[3], 0);
}

// Without effective order, a hypothesis shorter than 4 tokens has no 4-grams -> score 0.
TEST(CorpusBleuTest, ShortHypothesisWithoutEffectiveOrderScoresZero) {
  EXPECT_EQ(ScoreOrDie({"a test"}, {"a test"}).score, 0.0);
}

// Brevity penalty by hand: 4 hypothesis tokens vs 8 reference tokens -> exp(1 - 2).
TEST(CorpusBleuTest, BrevityPenaltyForShortOutput) {
  const BleuScore bleu = ScoreOrDie({"a b c d"}, {"a b c d e f g h"});
  EXPECT_NEAR(bleu.brevity_penalty, std::exp(-1.0), 1e-15);
  EXPECT_NEAR(bleu.score, 100.0 * std::exp(-1.0), 1e-9);
}

// sacrebleu right-strips every segment before tokenising, so a trailing "-\n" is not a line
// continuation and the dash survives as part of the last token.
TEST(CorpusBleuTest, RightStripsBeforeTokenizing) {
  const BleuScore stripped = ScoreOrDie({"a b c d-\n"}, {"a b c d-"});
  EXPECT_NEAR(stripped.score, 100.0, 1e-9);
  EXPECT_EQ(stripped.hyp_len, 4);
  const BleuScore trailing_space = ScoreOrDie({"a b c d \xC2\xA0 "}, {"a b c d"});
  EXPECT_NEAR(trailing_space.score, 100.0, 1e-9);
}

TEST(CorpusBleuTest, MultiReferenceSkipsEmptyReferences) {
  // The second stream has no reference for segment 0; the first has none for segment 1.
  absl::StatusOr<BleuScore> bleu =
      CorpusBleuMultiReference({"a b c d", "e f g h"}, {{"a b c d", ""}, {"", "e f g h"}});
  ASSERT_THAT(bleu, IsOk());
  EXPECT_NEAR(bleu->score, 100.0, 1e-9);
}

TEST(CorpusBleuTest, ClosestReferenceLengthPrefersShorterOnTies) {
  // Hypothesis has 4 tokens; references have 3 and 5 -> ref_len 3, no brevity penalty.
  absl::StatusOr<BleuScore> bleu =
      CorpusBleuMultiReference({"a b c d"}, {{"a b c"}, {"a b c d e"}});
  ASSERT_THAT(bleu, IsOk());
  EXPECT_EQ(bleu->ref_len, 3);
  EXPECT_EQ(bleu->brevity_penalty, 1.0);
}

TEST(CorpusBleuTest, RejectsInvalidCorpora) {
  EXPECT_THAT(CorpusBleu({}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CorpusBleu({"a"}, {"a", "b"}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CorpusBleu({"a"}, {""}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CorpusBleuMultiReference({"a"}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CorpusBleuMultiReference({"a"}, {{"a"}, {}}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CorpusBleuTest, ScoreIsMonotoneInQuality) {
  const std::vector<std::string> ref = {"find all text files in the current directory now"};
  const double perfect = ScoreOrDie(ref, ref).score;
  const double close = ScoreOrDie({"find all text files in the current folder now"}, ref).score;
  const double far = ScoreOrDie({"list every file in this folder please ok"}, ref).score;
  EXPECT_GT(perfect, close);
  EXPECT_GT(close, far);
  EXPECT_GE(far, 0.0);
}

}  // namespace
}  // namespace promptintern
