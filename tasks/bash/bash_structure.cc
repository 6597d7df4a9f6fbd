#include "tasks/bash/bash_structure.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/eval/metrics.h"

namespace promptintern {
namespace {

// Substitutions nest; a model can emit thousands of "$(" in a degenerate output, so recursion is
// bounded and deeper substitutions are treated as opaque text.
constexpr int kMaxSubstitutionDepth = 16;

// Stands in for an expanded $(...) inside a word; never looks like a flag or a path.
constexpr char kSubstitutionPlaceholder[] = "$()";

// Utilities whose options are whole single-dash words, so "-name" must not become -n -a -m -e.
const std::set<std::string>& SingleDashLongOptionUtilities() {
  static const auto* utilities = new std::set<std::string>{
      "find",   "test",    "[",       "[[",      "java",   "javac",    "gcc",
      "g++",    "cc",      "c++",     "clang",   "clang++", "go",      "ffmpeg",
      "ffprobe", "ffplay", "convert", "mogrify", "identify", "magick", "xterm",
      "openssl", "mplayer"};
  return *utilities;
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

struct Word {
  std::string text;
  bool any_part_quoted = false;    // Quotes or escapes anywhere: "if" is then not a keyword.
  bool first_char_quoted = false;  // A quoted "A=b" is a command word, not an assignment.
};

struct Token {
  enum class Kind { kWord, kSeparator, kSubstitution };
  Kind kind;
  Word word;                 // kWord.
  std::string command_text;  // kSubstitution: the text inside $(...), `...`, <(...), >(...).
};

// Index of the ')' closing the '(' at `open`, skipping quoted text and nested parentheses;
// s.size() when unterminated.
size_t FindClosingParen(std::string_view s, size_t open) {
  int depth = 0;
  size_t i = open;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\') {
      i += 2;
      continue;
    }
    if (c == '\'') {
      const size_t close = s.find('\'', i + 1);
      i = close == std::string_view::npos ? s.size() : close + 1;
      continue;
    }
    if (c == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') i += (s[i] == '\\') ? 2 : 1;
      ++i;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) return i;
    ++i;
  }
  return s.size();
}

// Index of the '}' closing the '{' at `open` (for ${...}); s.size() when unterminated.
size_t FindClosingBrace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      ++depth;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return s.size();
}

bool IsAssignmentPrefix(std::string_view text) {
  if (text.empty() || !(IsAsciiLetter(text[0]) || text[0] == '_')) return false;
  size_t i = 1;
  while (i < text.size() && (IsAsciiLetter(text[i]) || IsAsciiDigit(text[i]) || text[i] == '_')) {
    ++i;
  }
  if (i < text.size() && text[i] == '+') ++i;
  return i < text.size() && text[i] == '=';
}

// Splits a command line into words, separators and nested command texts, with bash's quoting
// rules reduced to what matters for finding utilities and flags.
class Lexer {
 public:
  explicit Lexer(std::string_view input) : s_(input) {}

  std::vector<Token> Run() {
    while (i_ < s_.size()) Step();
    FinishWord();
    return std::move(tokens_);
  }

 private:
  void Step() {
    const char c = s_[i_];
    const char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    switch (c) {
      case ' ':
      case '\t':
      case '\r':
        FinishWord();
        ++i_;
        return;
      case '\n':
      case ';':
        Separator();
        ++i_;
        return;
      case '|':
        Separator();
        i_ += (next == '|' || next == '&') ? 2 : 1;
        return;
      case '&':
        if (next == '>') {
          FinishWord();
          i_ += 2;
          if (i_ < s_.size() && s_[i_] == '>') ++i_;
          skip_next_word_ = true;
          return;
        }
        Separator();
        i_ += next == '&' ? 2 : 1;
        return;
      case '(':
        if (word_started_ && !word_.text.empty() && word_.text.back() == '=' &&
            IsAssignmentPrefix(word_.text)) {
          // Array literal NAME=(a b c): part of the assignment word, not a subshell.
          const size_t end = std::min(FindClosingParen(s_, i_) + 1, s_.size());
          word_.text.append(s_.data() + i_, end - i_);
          i_ = end;
          return;
        }
        Separator();
        ++i_;
        return;
      case ')':
        Separator();
        ++i_;
        return;
      case '<':
      case '>':
        if (next == '(') {
          Substitution(i_ + 1);
          return;
        }
        Redirection();
        return;
      case '#':
        if (!word_started_) {
          while (i_ < s_.size() && s_[i_] != '\n') ++i_;
          return;
        }
        break;
      case '\\':
        if (next == '\n') {
          i_ += 2;
          return;
        }
        MarkQuoted();
        if (i_ + 1 < s_.size()) word_.text += next;
        i_ += 2;
        return;
      case '\'': {
        MarkQuoted();
        const size_t close = s_.find('\'', i_ + 1);
        const size_t end = close == std::string_view::npos ? s_.size() : close;
        word_.text.append(s_.data() + i_ + 1, end - i_ - 1);
        i_ = end + 1;
        return;
      }
      case '"':
        MarkQuoted();
        ++i_;
        DoubleQuoted();
        return;
      case '$':
        Dollar();
        return;
      case '`':
        word_started_ = true;
        Backticks();
        return;
      default:
        break;
    }
    word_started_ = true;
    word_.text += c;
    ++i_;
  }

  void MarkQuoted() {
    if (!word_started_) word_.first_char_quoted = true;
    word_started_ = true;
    word_.any_part_quoted = true;
  }

  void DoubleQuoted() {
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_];
      const char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
      if (c == '\\' && (next == '$' || next == '`' || next == '"' || next == '\\')) {
        word_.text += next;
        i_ += 2;
      } else if (c == '\\' && next == '\n') {
        i_ += 2;
      } else if (c == '$') {
        Dollar();
      } else if (c == '`') {
        Backticks();
      } else {
        word_.text += c;
        ++i_;
      }
    }
    ++i_;  // Closing quote (or past the end when unterminated).
  }

  void Dollar() {
    word_started_ = true;
    const char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    const char after_next = i_ + 2 < s_.size() ? s_[i_ + 2] : '\0';
    if (next == '(' && after_next == '(') {
      // $((arithmetic)) holds no commands; keep it as opaque argument text.
      const size_t close = FindClosingParen(s_, i_ + 1);
      const size_t end = std::min(close + 1, s_.size());
      word_.text.append(s_.data() + i_, end - i_);
      i_ = end;
    } else if (next == '(') {
      Substitution(i_ + 1);
    } else if (next == '{') {
      const size_t close = FindClosingBrace(s_, i_ + 1);
      const size_t end = std::min(close + 1, s_.size());
      word_.text.append(s_.data() + i_, end - i_);
      i_ = end;
    } else {
      word_.text += '$';
      ++i_;
    }
  }

  // The command inside the parentheses opening at `open` becomes a nested command.
  void Substitution(size_t open) {
    word_started_ = true;
    const size_t close = FindClosingParen(s_, open);
    EmitSubstitution(s_.substr(open + 1, close - open - 1));
    word_.text += kSubstitutionPlaceholder;
    i_ = std::min(close + 1, s_.size());
  }

  void Backticks() {
    std::string inner;
    size_t j = i_ + 1;
    while (j < s_.size() && s_[j] != '`') {
      if (s_[j] == '\\' && j + 1 < s_.size()) {
        inner += s_[j + 1];
        j += 2;
      } else {
        inner += s_[j++];
      }
    }
    EmitSubstitution(inner);
    word_.text += kSubstitutionPlaceholder;
    i_ = std::min(j + 1, s_.size());
  }

  void Redirection() {
    // A word of digits glued to the operator ("2>") is a file descriptor, not an argument.
    const bool fd_prefix = word_started_ && !word_.any_part_quoted && !word_.text.empty() &&
                           std::all_of(word_.text.begin(), word_.text.end(), IsAsciiDigit);
    if (fd_prefix) {
      word_ = Word();
      word_started_ = false;
    } else {
      FinishWord();
    }
    ++i_;  // '<' or '>'.
    while (i_ < s_.size() && (s_[i_] == '<' || s_[i_] == '>' || s_[i_] == '|')) ++i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;  // <<- here-document.
    if (i_ < s_.size() && s_[i_] == '&') {
      ++i_;
      // 2>&1, >&-: duplicating a descriptor names no file.
      if (i_ < s_.size() && (IsAsciiDigit(s_[i_]) || s_[i_] == '-')) {
        while (i_ < s_.size() && (IsAsciiDigit(s_[i_]) || s_[i_] == '-')) ++i_;
        return;
      }
    }
    skip_next_word_ = true;
  }

  void EmitSubstitution(std::string_view command_text) {
    Token token{Token::Kind::kSubstitution, Word(), std::string(command_text)};
    tokens_.push_back(std::move(token));
  }

  void FinishWord() {
    if (!word_started_) return;
    if (skip_next_word_) {
      skip_next_word_ = false;
    } else {
      tokens_.push_back(Token{Token::Kind::kWord, std::move(word_), ""});
    }
    word_ = Word();
    word_started_ = false;
  }

  void Separator() {
    FinishWord();
    skip_next_word_ = false;
    tokens_.push_back(Token{Token::Kind::kSeparator, Word(), ""});
  }

  std::string_view s_;
  size_t i_ = 0;
  Word word_;
  bool word_started_ = false;
  bool skip_next_word_ = false;
  std::vector<Token> tokens_;
};

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash + 1 == path.size()) return path;
  return path.substr(slash + 1);
}

void AddFlags(const std::string& utility, const std::string& word, std::set<std::string>* flags) {
  if (word.size() < 2 || word[0] != '-') return;
  if (word[1] == '-') {
    flags->insert(word.substr(0, word.find('=')));
    return;
  }
  if (IsAsciiDigit(word[1])) {
    size_t end = 1;
    while (end < word.size() && IsAsciiDigit(word[end])) ++end;
    flags->insert(word.substr(0, end));
    return;
  }
  if (SingleDashLongOptionUtilities().count(utility) > 0) {
    flags->insert(word.substr(0, word.find('=')));
    return;
  }
  for (size_t k = 1; k < word.size() && IsAsciiLetter(word[k]); ++k) {
    flags->insert(std::string{'-', word[k]});
  }
}

bool IsWrapper(const Word& word, std::string_view name) {
  return !word.any_part_quoted && Basename(word.text) == name;
}

// Skips the options of a wrapper such as sudo; `options_with_argument` consume the next word.
size_t SkipWrapperOptions(const std::vector<Word>& words, size_t i,
                          const std::set<std::string>& options_with_argument) {
  while (i < words.size() && words[i].text.size() > 1 && words[i].text[0] == '-') {
    const std::string& option = words[i].text;
    ++i;
    if (option == "--") break;
    if (options_with_argument.count(option) > 0 && i < words.size()) ++i;
  }
  return i;
}

void ParseInto(std::string_view command_line, int depth, std::vector<BashCommandSegment>* out);

// Appends the segments of one simple command (words between separators), starting at `first`.
// `depth` counts enclosing substitutions and `sh -c` strings.
void AnalyzeSimpleCommand(const std::vector<Word>& words, size_t first, int depth,
                          std::vector<BashCommandSegment>* out) {
  static const auto* kPrefixKeywords = new std::set<std::string>{
      "if", "then", "elif", "else", "do", "while", "until", "{", "}", "!", "fi", "done", "esac"};
  static const auto* kHeaderKeywords =
      new std::set<std::string>{"for", "select", "case", "function"};
  static const auto* kSudoArgumentOptions = new std::set<std::string>{
      "-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"};
  static const auto* kEnvArgumentOptions = new std::set<std::string>{"-u", "-C", "-S"};
  static const auto* kExecArgumentOptions = new std::set<std::string>{"-a"};
  static const auto* kNoArgumentOptions = new std::set<std::string>{};
  static const auto* kShells =
      new std::set<std::string>{"sh", "bash", "zsh", "dash", "ksh"};
  static const auto* kXargsArgumentOptions = new std::set<std::string>{
      "-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a"};

  size_t i = first;
  while (i < words.size()) {
    const Word& word = words[i];
    if (!word.first_char_quoted && IsAssignmentPrefix(word.text)) {
      ++i;
    } else if (!word.any_part_quoted && kPrefixKeywords->count(word.text) > 0) {
      ++i;
    } else if (!word.any_part_quoted && kHeaderKeywords->count(word.text) > 0) {
      return;
    } else if (IsWrapper(word, "sudo")) {
      i = SkipWrapperOptions(words, i + 1, *kSudoArgumentOptions);
    } else if (IsWrapper(word, "env")) {
      i = SkipWrapperOptions(words, i + 1, *kEnvArgumentOptions);
    } else if (IsWrapper(word, "exec")) {
      i = SkipWrapperOptions(words, i + 1, *kExecArgumentOptions);
    } else if (IsWrapper(word, "nohup") || IsWrapper(word, "time") ||
               IsWrapper(word, "command")) {
      i = SkipWrapperOptions(words, i + 1, *kNoArgumentOptions);
    } else {
      break;
    }
  }
  if (i >= words.size() || words[i].text.empty()) return;

  BashCommandSegment segment;
  segment.utility = Basename(words[i].text);
  std::vector<BashCommandSegment> nested;
  size_t j = i + 1;
  bool end_of_options = false;
  while (j < words.size()) {
    const std::string& text = words[j].text;
    if (segment.utility == "xargs" && !end_of_options) {
      // The first non-option word starts the command xargs runs.
      if (text == "--") {
        ++j;
        end_of_options = true;
        break;
      }
      if (text.size() < 2 || text[0] != '-') break;
      AddFlags(segment.utility, text, &segment.flags);
      j += (kXargsArgumentOptions->count(text) > 0) ? 2 : 1;
      continue;
    }
    if (segment.utility == "find" &&
        (text == "-exec" || text == "-execdir" || text == "-ok" || text == "-okdir")) {
      segment.flags.insert(text);
      size_t terminator = j + 1;
      while (terminator < words.size() && words[terminator].text != ";" &&
             words[terminator].text != "+") {
        ++terminator;
      }
      const std::vector<Word> executed(words.begin() + j + 1, words.begin() + terminator);
      AnalyzeSimpleCommand(executed, 0, depth, &nested);
      j = terminator + 1;
      continue;
    }
    if (text == "--") {
      end_of_options = true;
    } else if (!end_of_options) {
      AddFlags(segment.utility, text, &segment.flags);
      // sh -c 'cmd' runs a command line of its own.
      if (kShells->count(segment.utility) > 0 && text.size() > 1 && text[0] == '-' &&
          text[1] != '-' && text.find('c') != std::string::npos && j + 1 < words.size() &&
          depth < kMaxSubstitutionDepth) {
        ParseInto(words[j + 1].text, depth + 1, &nested);
        ++j;
      }
    }
    ++j;
  }
  const bool runs_a_command = segment.utility == "xargs";
  out->push_back(std::move(segment));
  if (runs_a_command && j < words.size()) AnalyzeSimpleCommand(words, j, depth, out);
  for (BashCommandSegment& segment_run_by_find : nested) {
    out->push_back(std::move(segment_run_by_find));
  }
}

void ParseInto(std::string_view command_line, int depth, std::vector<BashCommandSegment>* out) {
  std::vector<Token> tokens = Lexer(command_line).Run();
  std::vector<Word> words;
  std::vector<std::string> substitutions;
  auto flush = [&]() {
    AnalyzeSimpleCommand(words, 0, depth, out);
    if (depth < kMaxSubstitutionDepth) {
      for (const std::string& inner : substitutions) ParseInto(inner, depth + 1, out);
    }
    words.clear();
    substitutions.clear();
  };
  for (Token& token : tokens) {
    switch (token.kind) {
      case Token::Kind::kWord:
        words.push_back(std::move(token.word));
        break;
      case Token::Kind::kSubstitution:
        substitutions.push_back(std::move(token.command_text));
        break;
      case Token::Kind::kSeparator:
        flush();
        break;
    }
  }
  flush();
}

template <typename Key>
double MultisetF1(const std::map<Key, int>& a, const std::map<Key, int>& b) {
  int size_a = 0;
  int size_b = 0;
  int common = 0;
  for (const auto& [key, count] : a) {
    size_a += count;
    const auto it = b.find(key);
    if (it != b.end()) common += std::min(count, it->second);
  }
  for (const auto& [key, count] : b) size_b += count;
  if (size_a + size_b == 0) return 1.0;
  return 2.0 * common / (size_a + size_b);
}

struct Structure {
  std::map<std::string, int> utilities;
  std::map<std::pair<std::string, std::string>, int> flags;
};

Structure Summarize(std::string_view command_line) {
  Structure structure;
  for (const BashCommandSegment& segment : ParseBashStructure(command_line)) {
    ++structure.utilities[segment.utility];
    for (const std::string& flag : segment.flags) ++structure.flags[{segment.utility, flag}];
  }
  return structure;
}

}  // namespace

std::vector<BashCommandSegment> ParseBashStructure(std::string_view command_line) {
  std::vector<BashCommandSegment> segments;
  ParseInto(command_line, 0, &segments);
  return segments;
}

double BashStructureScore(std::string_view prediction, std::string_view reference) {
  const Structure predicted = Summarize(prediction);
  const Structure expected = Summarize(reference);
  const double utility_f1 = MultisetF1(predicted.utilities, expected.utilities);
  if (predicted.flags.empty() && expected.flags.empty()) return utility_f1;
  return 0.5 * (utility_f1 + MultisetF1(predicted.flags, expected.flags));
}

absl::StatusOr<double> MeanBashStructureScore(const std::vector<std::string>& predictions,
                                              const std::vector<std::string>& references) {
  return MeanPairScore("bash structure", predictions, references, BashStructureScore);
}

}  // namespace promptintern
