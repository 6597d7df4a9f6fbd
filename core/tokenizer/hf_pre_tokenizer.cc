#include "core/tokenizer/hf_pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/unicode_regex.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using hf_json::json;
using Range = std::pair<size_t, size_t>;

// What happens to the matched delimiters when a piece is split (Hugging Face's
// SplitDelimiterBehavior).
enum class Delimiter { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// The pieces of a text of `length` bytes cut at `matches`, per `behaviour`.
std::vector<Range> SplitAtMatches(size_t length, const std::vector<Range>& matches, Delimiter behaviour,
                                  bool invert) {
  // Every byte of the text, in order, as (range, is_match).
  std::vector<std::pair<Range, bool>> parts;
  size_t last = 0;
  for (const Range& match : matches) {
    if (match.first > last) parts.push_back({{last, match.first}, invert});
    parts.push_back({match, !invert});
    last = match.second;
  }
  if (last < length) parts.push_back({{last, length}, invert});

  std::vector<Range> pieces;
  bool previous_match = false;
  switch (behaviour) {
    case Delimiter::kRemoved:
      for (const auto& [range, is_match] : parts) {
        if (!is_match) pieces.push_back(range);
      }
      break;
    case Delimiter::kIsolated:
      for (const auto& part : parts) pieces.push_back(part.first);
      break;
    case Delimiter::kMergedWithPrevious:
      for (const auto& [range, is_match] : parts) {
        if (is_match && !previous_match && !pieces.empty()) {
          pieces.back().second = range.second;
        } else {
          pieces.push_back(range);
        }
        previous_match = is_match;
      }
      break;
    case Delimiter::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->second && !previous_match && !pieces.empty()) {
          pieces.back().first = it->first.first;
        } else {
          pieces.push_back(it->first);
        }
        previous_match = it->second;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    case Delimiter::kContiguous:
      for (const auto& [range, is_match] : parts) {
        if (is_match == previous_match && !pieces.empty()) {
          pieces.back().second = range.second;
        } else {
          pieces.push_back(range);
        }
        previous_match = is_match;
      }
      break;
  }
  return pieces;
}

// Splits every piece at the matches of `regex`.
absl::Status SplitPieces(const UnicodeRegex& regex, Delimiter behaviour, bool invert, std::vector<PreToken>* pieces) {
  std::vector<PreToken> out;
  for (PreToken& piece : *pieces) {
    ASSIGN_OR_RETURN(const std::vector<Range> matches, regex.FindAll(piece.text));
    for (const Range& range : SplitAtMatches(piece.text.size(), matches, behaviour, invert)) {
      if (range.first == range.second) continue;
      out.push_back({piece.text.substr(range.first, range.second - range.first), piece.at_origin && range.first == 0});
    }
  }
  *pieces = std::move(out);
  return absl::OkStatus();
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& step : steps_) RETURN_IF_ERROR(step->PreTokenize(pieces));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<UnicodeRegex> pattern, Delimiter behaviour, bool invert)
      : pattern_(std::move(pattern)), behaviour_(behaviour), invert_(invert) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    return SplitPieces(*pattern_, behaviour_, invert_, pieces);
  }

 private:
  std::unique_ptr<UnicodeRegex> pattern_;
  Delimiter behaviour_;
  bool invert_;
};

// GPT-2's pre-tokenizer regex, which ByteLevel applies when use_regex is set.
constexpr char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<UnicodeRegex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    if (add_prefix_space_) {
      for (PreToken& piece : *pieces) {
        if (!absl::StartsWith(piece.text, " ")) piece.text.insert(0, " ");
      }
    }
    if (regex_ != nullptr) RETURN_IF_ERROR(SplitPieces(*regex_, Delimiter::kIsolated, false, pieces));
    for (PreToken& piece : *pieces) piece.text = byte_level::Encode(piece.text);
    return absl::OkStatus();
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<UnicodeRegex> regex_;  // null: use_regex false
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, std::unique_ptr<UnicodeRegex> splitter)
      : replacement_(std::move(replacement)), scheme_(scheme), splitter_(std::move(splitter)) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    for (PreToken& piece : *pieces) {
      piece.text = absl::StrReplaceAll(piece.text, {{" ", replacement_}});
      const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_origin);
      if (prepend && !absl::StartsWith(piece.text, replacement_)) piece.text.insert(0, replacement_);
    }
    if (splitter_ != nullptr) return SplitPieces(*splitter_, Delimiter::kMergedWithNext, false, pieces);
    return absl::OkStatus();
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  std::unique_ptr<UnicodeRegex> splitter_;  // null: split false
};

absl::StatusOr<Delimiter> ReadDelimiter(const json& node, absl::string_view path) {
  ASSIGN_OR_RETURN(const std::string name, hf_json::RequiredString(node, path, "behavior"));
  if (name == "Removed") return Delimiter::kRemoved;
  if (name == "Isolated") return Delimiter::kIsolated;
  if (name == "MergedWithPrevious") return Delimiter::kMergedWithPrevious;
  if (name == "MergedWithNext") return Delimiter::kMergedWithNext;
  if (name == "Contiguous") return Delimiter::kContiguous;
  return hf_json::FieldError(hf_json::Child(path, "behavior"),
                             absl::StrCat("unknown split behavior \"", name,
                                          "\" (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                                          "Contiguous)"));
}

}  // namespace

absl::StatusOr<PrependScheme> ReadPrependScheme(const json& node, absl::string_view path) {
  if (hf_json::Member(node, "prepend_scheme") == nullptr) {
    // Files written before prepend_scheme existed say add_prefix_space.
    ASSIGN_OR_RETURN(const bool add_prefix_space, hf_json::OptionalBool(node, path, "add_prefix_space", true));
    return add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  ASSIGN_OR_RETURN(const std::string name, hf_json::RequiredString(node, path, "prepend_scheme"));
  if (name == "always") return PrependScheme::kAlways;
  if (name == "first") return PrependScheme::kFirst;
  if (name == "never") return PrependScheme::kNever;
  return hf_json::FieldError(hf_json::Child(path, "prepend_scheme"),
                             absl::StrCat("unknown prepend_scheme \"", name, "\" (supported: always, first, never)"));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ReadPreTokenizer(const json& node, absl::string_view path) {
  ASSIGN_OR_RETURN(const std::string type, hf_json::TypeOf(node, path));
  if (type == "Sequence") {
    const std::string steps_path = hf_json::Child(path, "pretokenizers");
    const json* steps = hf_json::Member(node, "pretokenizers");
    if (steps == nullptr || !steps->is_array()) return hf_json::FieldError(steps_path, "expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> pre_tokenizers;
    for (size_t i = 0; i < steps->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ReadPreTokenizer((*steps)[i], hf_json::Element(steps_path, i)));
      pre_tokenizers.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(pre_tokenizers));
  }
  if (type == "Split") {
    ASSIGN_OR_RETURN(auto pattern, hf_json::Pattern(node, path, "pattern"));
    ASSIGN_OR_RETURN(const Delimiter behaviour, ReadDelimiter(node, path));
    ASSIGN_OR_RETURN(const bool invert, hf_json::OptionalBool(node, path, "invert", false));
    return std::make_unique<SplitPreTokenizer>(std::move(pattern), behaviour, invert);
  }
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(const bool add_prefix_space, hf_json::OptionalBool(node, path, "add_prefix_space", true));
    ASSIGN_OR_RETURN(const bool use_regex, hf_json::OptionalBool(node, path, "use_regex", true));
    std::unique_ptr<UnicodeRegex> regex;
    if (use_regex) {
      ASSIGN_OR_RETURN(regex, UnicodeRegex::Compile(kGpt2Pattern));
    }
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, std::move(regex));
  }
  if (type == "Digits") {
    ASSIGN_OR_RETURN(const bool individual, hf_json::OptionalBool(node, path, "individual_digits", false));
    ASSIGN_OR_RETURN(auto digits, UnicodeRegex::Compile(R"(\p{N})"));
    return std::make_unique<SplitPreTokenizer>(std::move(digits),
                                               individual ? Delimiter::kIsolated : Delimiter::kContiguous, false);
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(const char32_t replacement, hf_json::RequiredChar(node, path, "replacement"));
    ASSIGN_OR_RETURN(const PrependScheme scheme, ReadPrependScheme(node, path));
    ASSIGN_OR_RETURN(const bool split, hf_json::OptionalBool(node, path, "split", true));
    std::string replacement_text;
    utf8::AppendChar(replacement, &replacement_text);
    std::unique_ptr<UnicodeRegex> splitter;
    if (split) {
      ASSIGN_OR_RETURN(splitter, UnicodeRegex::Literal(replacement_text));
    }
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement_text), scheme, std::move(splitter));
  }
  return hf_json::FieldError(hf_json::Child(path, "type"),
                             absl::StrCat("unknown pre-tokenizer type \"", type,
                                          "\" (supported: Sequence, Split, ByteLevel, Digits, Metaspace)"));
}

}  // namespace promptintern
