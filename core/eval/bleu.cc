#include "core/eval/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace promptintern {
namespace {

// Byte length of the code point at `s[i]` if Python's str.isspace() would call it whitespace,
// else 0. sacrebleu's rstrip() and split() use that set, so ASCII-only splitting would
// disagree on e.g. NO-BREAK SPACE. Continuation bytes never start a match, so scanning byte by
// byte over valid UTF-8 is safe.
size_t PythonWhitespaceLengthAt(std::string_view s, size_t i) {
  const unsigned char c0 = static_cast<unsigned char>(s[i]);
  if ((c0 >= 0x09 && c0 <= 0x0D) || (c0 >= 0x1C && c0 <= 0x20)) return 1;
  const size_t left = s.size() - i;
  if (c0 == 0xC2 && left >= 2) {
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    return (c1 == 0x85 || c1 == 0xA0) ? 2 : 0;  // U+0085, U+00A0.
  }
  if (left < 3) return 0;
  const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
  const unsigned char c2 = static_cast<unsigned char>(s[i + 2]);
  if (c0 == 0xE1) return (c1 == 0x9A && c2 == 0x80) ? 3 : 0;  // U+1680.
  if (c0 == 0xE3) return (c1 == 0x80 && c2 == 0x80) ? 3 : 0;  // U+3000.
  if (c0 == 0xE2) {
    if (c1 == 0x80) {
      // U+2000..U+200A, U+2028, U+2029, U+202F.
      return (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) && c2 >= 0x80 ? 3 : 0;
    }
    if (c1 == 0x81) return c2 == 0x9F ? 3 : 0;  // U+205F.
  }
  return 0;
}

std::string_view RightStripPythonWhitespace(std::string_view s) {
  size_t content_end = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t ws = PythonWhitespaceLengthAt(s, i);
    if (ws > 0) {
      i += ws;
    } else {
      ++i;
      content_end = i;
    }
  }
  return s.substr(0, content_end);
}

// Python's str.split() with no arguments.
std::vector<std::string_view> SplitOnPythonWhitespace(std::string_view s) {
  std::vector<std::string_view> tokens;
  size_t token_start = 0;
  bool in_token = false;
  size_t i = 0;
  while (i < s.size()) {
    const size_t ws = PythonWhitespaceLengthAt(s, i);
    if (ws > 0) {
      if (in_token) tokens.push_back(s.substr(token_start, i - token_start));
      in_token = false;
      i += ws;
    } else {
      if (!in_token) token_start = i;
      in_token = true;
      ++i;
    }
  }
  if (in_token) tokens.push_back(s.substr(token_start));
  return tokens;
}

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// The character class [\{-\~\[-\` -\&\(-\+\:-\@\/] of mteval-v13a: all printable ASCII
// punctuation (and space) except ' , - . which get the context-dependent rules below.
bool IsAlwaysSplitPunctuation(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

bool IsPeriodOrComma(char c) { return c == '.' || c == ','; }

// The three context rules are regex substitutions applied one after the other; re.sub scans
// left to right and resumes after each (two-character) match, so a character consumed by one
// match cannot start the next. The loops below reproduce exactly that, which is what makes
// runs like "a..." or "1,,2" tokenise identically to sacrebleu. Working on bytes is equivalent
// to Python's code points here because every pattern character is ASCII and UTF-8
// continuation bytes can never be '.', ',', '-' or a digit.

// ([^0-9])([\.,]) -> "\1 \2 "
std::string SplitPeriodCommaAfterNonDigit(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && !IsAsciiDigit(s[i]) && IsPeriodOrComma(s[i + 1])) {
      out += s[i];
      out += ' ';
      out += s[i + 1];
      out += ' ';
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// ([\.,])([^0-9]) -> " \1 \2"
std::string SplitPeriodCommaBeforeNonDigit(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && IsPeriodOrComma(s[i]) && !IsAsciiDigit(s[i + 1])) {
      out += ' ';
      out += s[i];
      out += ' ';
      out += s[i + 1];
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// ([0-9])(-) -> "\1 \2 "
std::string SplitDashAfterDigit(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && IsAsciiDigit(s[i]) && s[i + 1] == '-') {
      out += s[i];
      out += " - ";
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string Preprocess(std::string_view segment, BleuTokenizer tokenizer) {
  const std::string_view stripped = RightStripPythonWhitespace(segment);
  if (tokenizer == BleuTokenizer::kNone) return std::string(stripped);
  return Tokenize13a(stripped);
}

// N-gram counts keyed by the space-joined tokens; tokens never contain a space, so keys of
// different orders cannot collide.
using NgramCounts = std::unordered_map<std::string, int64_t>;

struct SegmentNgrams {
  NgramCounts counts;
  int64_t length = 0;
};

SegmentNgrams ExtractNgrams(std::string_view tokenized) {
  const std::vector<std::string_view> tokens = SplitOnPythonWhitespace(tokenized);
  SegmentNgrams result;
  result.length = static_cast<int64_t>(tokens.size());
  for (size_t order = 1; order <= kBleuMaxNgramOrder; ++order) {
    for (size_t start = 0; start + order <= tokens.size(); ++start) {
      std::string key(tokens[start]);
      for (size_t k = start + 1; k < start + order; ++k) {
        key += ' ';
        key.append(tokens[k].data(), tokens[k].size());
      }
      ++result.counts[key];
    }
  }
  return result;
}

size_t OrderOfKey(const std::string& key) {
  size_t spaces = 0;
  for (char c : key) spaces += (c == ' ');
  return spaces + 1;
}

// sacrebleu's _get_closest_ref_len: nearest length, ties broken towards the shorter reference.
int64_t ClosestReferenceLength(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t best_len = ref_lens.front();
  int64_t best_diff = std::llabs(hyp_len - best_len);
  for (int64_t len : ref_lens) {
    const int64_t diff = std::llabs(hyp_len - len);
    if (diff < best_diff || (diff == best_diff && len < best_len)) {
      best_diff = diff;
      best_len = len;
    }
  }
  return best_len;
}

// sacrebleu's my_log: log(0) is floored to a huge negative number instead of -inf, so a zero
// precision drives the score to exactly 0 without producing NaN.
double FlooredLog(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

}  // namespace

std::string Tokenize13a(std::string_view line) {
  // Sequential single-pattern replacements, in mteval's order: "&amp;quot;" must become
  // "&quot;" and stay that way, which simultaneous replacement would not give.
  std::string text(line);
  text = absl::StrReplaceAll(text, {{"<skipped>", ""}});
  text = absl::StrReplaceAll(text, {{"-\n", ""}});
  text = absl::StrReplaceAll(text, {{"\n", " "}});
  text = absl::StrReplaceAll(text, {{"&quot;", "\""}});
  text = absl::StrReplaceAll(text, {{"&amp;", "&"}});
  text = absl::StrReplaceAll(text, {{"&lt;", "<"}});
  text = absl::StrReplaceAll(text, {{"&gt;", ">"}});

  // The padding is significant: it lets the period/comma rules see a non-digit before a
  // leading ".5" or after a trailing "a.".
  std::string padded;
  padded.reserve(text.size() * 3 + 2);
  padded += ' ';
  for (char c : text) {
    if (IsAlwaysSplitPunctuation(c)) {
      padded += ' ';
      padded += c;
      padded += ' ';
    } else {
      padded += c;
    }
  }
  padded += ' ';

  const std::string split =
      SplitDashAfterDigit(SplitPeriodCommaBeforeNonDigit(SplitPeriodCommaAfterNonDigit(padded)));
  std::string joined;
  joined.reserve(split.size());
  for (std::string_view token : SplitOnPythonWhitespace(split)) {
    if (!joined.empty()) joined += ' ';
    joined.append(token.data(), token.size());
  }
  return joined;
}

BleuScore BleuFromStatistics(const std::array<int64_t, kBleuMaxNgramOrder>& matches,
                             const std::array<int64_t, kBleuMaxNgramOrder>& totals,
                             int64_t hyp_len, int64_t ref_len, const BleuOptions& options) {
  BleuScore result;
  result.matches = matches;
  result.totals = totals;
  result.hyp_len = hyp_len;
  result.ref_len = ref_len;

  double smooth_value = options.smooth_value;
  if (smooth_value < 0.0) {
    smooth_value = options.smoothing == BleuSmoothing::kFloor  ? 0.1
                   : options.smoothing == BleuSmoothing::kAddK ? 1.0
                                                               : 0.0;
  }

  if (hyp_len < ref_len) {
    result.brevity_penalty =
        hyp_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(hyp_len))
                    : 0.0;
  } else {
    result.brevity_penalty = 1.0;
  }

  // sacrebleu #141: without a single matching n-gram the score is 0 whatever the smoothing.
  bool any_match = false;
  for (int64_t m : matches) any_match = any_match || m != 0;
  if (!any_match) return result;

  // Evaluation order of every expression follows sacrebleu's so the doubles agree bit for bit.
  double exp_smoothing_divisor = 1.0;
  int effective_order = kBleuMaxNgramOrder;
  for (int n = 1; n <= kBleuMaxNgramOrder; ++n) {
    double correct = static_cast<double>(matches[n - 1]);
    double total = static_cast<double>(totals[n - 1]);
    if (options.smoothing == BleuSmoothing::kAddK && n > 1) {
      correct += smooth_value;
      total += smooth_value;
    }
    if (total == 0.0) break;
    if (options.effective_order) effective_order = n;
    double& precision = result.precisions[n - 1];
    if (correct == 0.0) {
      if (options.smoothing == BleuSmoothing::kExp) {
        exp_smoothing_divisor *= 2.0;
        precision = 100.0 / (exp_smoothing_divisor * total);
      } else if (options.smoothing == BleuSmoothing::kFloor) {
        precision = 100.0 * smooth_value / total;
      }
    } else {
      precision = 100.0 * correct / total;
    }
  }

  double log_sum = 0.0;
  for (int n = 0; n < effective_order; ++n) log_sum += FlooredLog(result.precisions[n]);
  result.score = result.brevity_penalty * std::exp(log_sum / effective_order);
  return result;
}

absl::StatusOr<BleuScore> CorpusBleuMultiReference(
    const std::vector<std::string>& hypotheses,
    const std::vector<std::vector<std::string>>& reference_streams, const BleuOptions& options) {
  if (hypotheses.empty()) return absl::InvalidArgumentError("BLEU: no hypotheses");
  if (reference_streams.empty()) return absl::InvalidArgumentError("BLEU: no references");
  for (size_t k = 0; k < reference_streams.size(); ++k) {
    if (reference_streams[k].size() != hypotheses.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("BLEU: reference stream ", k, " has ", reference_streams[k].size(),
                       " segments but there are ", hypotheses.size(), " hypotheses"));
    }
  }

  std::array<int64_t, kBleuMaxNgramOrder> matches{};
  std::array<int64_t, kBleuMaxNgramOrder> totals{};
  int64_t hyp_len_sum = 0;
  int64_t ref_len_sum = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    NgramCounts max_ref_counts;
    std::vector<int64_t> ref_lens;
    for (const std::vector<std::string>& stream : reference_streams) {
      // sacrebleu drops empty references before preprocessing, so a whitespace-only reference
      // is kept and counts as zero tokens.
      if (stream[i].empty()) continue;
      SegmentNgrams ref = ExtractNgrams(Preprocess(stream[i], options.tokenizer));
      ref_lens.push_back(ref.length);
      for (auto& [ngram, count] : ref.counts) {
        int64_t& kept = max_ref_counts[ngram];
        if (count > kept) kept = count;
      }
    }
    if (ref_lens.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("BLEU: segment ", i, " has only empty references"));
    }

    const SegmentNgrams hyp = ExtractNgrams(Preprocess(hypotheses[i], options.tokenizer));
    hyp_len_sum += hyp.length;
    ref_len_sum += ClosestReferenceLength(hyp.length, ref_lens);
    for (const auto& [ngram, count] : hyp.counts) {
      const size_t order_index = OrderOfKey(ngram) - 1;
      totals[order_index] += count;
      const auto ref_it = max_ref_counts.find(ngram);
      if (ref_it != max_ref_counts.end()) {
        matches[order_index] += std::min(count, ref_it->second);
      }
    }
  }
  return BleuFromStatistics(matches, totals, hyp_len_sum, ref_len_sum, options);
}

absl::StatusOr<BleuScore> CorpusBleu(const std::vector<std::string>& hypotheses,
                                     const std::vector<std::string>& references,
                                     const BleuOptions& options) {
  return CorpusBleuMultiReference(hypotheses, {references}, options);
}

}  // namespace promptintern
