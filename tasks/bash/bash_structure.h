// Structural similarity of shell commands: did the model call the right utilities with the
// right flags, regardless of argument values (file names, patterns, numbers)? Exact match is too
// strict for NL-to-Bash output and BLEU rewards copied argument text, so this score complements
// both.
//
// Parsing (lenient; never fails; malformed input such as an unterminated quote just ends the
// current word at end of input):
//   * A command line is split into simple commands at unquoted | || & && ; |& newlines and
//     ( ) ; quotes ('...', "...") and backslash escapes keep their contents in one word.
//   * $(...), `...`, <(...) and >(...) are parsed recursively as commands of their own, and the
//     word that contained them stays a plain argument. $((...)) arithmetic and ${...} expansions
//     are opaque argument text.
//   * Redirections (> >> < << <<< &> 2>&1 ...) and their targets are dropped.
//   * At the start of a simple command, NAME=value assignments, the keywords
//     if/then/elif/else/do/while/until/{/}/!/fi/done/esac and the wrappers sudo, nohup, time,
//     env, exec and command (with their own options) are skipped. Segments that are for/select/
//     case/function headers are dropped.
//   * The utility is the basename of the first remaining word ("/usr/bin/ls" -> "ls").
//   * Flags are the words starting with '-' before a "--" end-of-options marker:
//       - "--name=value" and "--name" -> "--name";
//       - "-abc" -> "-a", "-b", "-c" (POSIX short-option clusters, so "ls -la" == "ls -al");
//         the cluster stops at the first non-letter, which is taken as an attached value
//         ("-n5" -> "-n", "-d," -> "-d");
//       - a purely numeric "-5" is kept whole ("head -5", "kill -9");
//       - utilities whose options are single-dash words (find, test/[, java, gcc, ffmpeg, ...;
//         see kSingleDashLongOptionUtilities in the .cc) keep "-name" whole; splitting it would
//         invent flags n, a, m, e.
//   * Commands run by other commands become segments of their own: the command after xargs's
//     options, and the command between find's -exec/-execdir/-ok/-okdir and its ";" or "+".
//   * Subcommands (git commit, docker run) are ordinary arguments and are not compared.
//
// Score, for a prediction P and a reference R, each parsed into segments (utility, flag set):
//   U(X) = multiset of the utilities of X's segments;
//   F(X) = multiset of (utility, flag) pairs over X's segments, so a flag only counts when it is
//          given to the right utility;
//   F1(A, B) = 2|A∩B| / (|A| + |B|) with multiset intersection; F1 of two empty multisets is 1.
//   score = F1(U(P), U(R))                                    if F(P) and F(R) are both empty,
//           (F1(U(P), U(R)) + F1(F(P), F(R))) / 2             otherwise.
// So the score is in [0, 1], symmetric, 1 for commands with identical structure (in particular
// for identical strings), and 0 when no utility is shared. Segment order is ignored
// ("a | b" scores 1 against "b | a").
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace promptintern {

struct BashCommandSegment {
  std::string utility;
  std::set<std::string> flags;

  bool operator==(const BashCommandSegment& other) const {
    return utility == other.utility && flags == other.flags;
  }
};

// Segments in order of appearance; a command substituted into a word comes after the segment
// that contains it.
std::vector<BashCommandSegment> ParseBashStructure(std::string_view command_line);

double BashStructureScore(std::string_view prediction, std::string_view reference);

// Mean of BashStructureScore over aligned pairs. InvalidArgument when the lists are empty or of
// different lengths.
absl::StatusOr<double> MeanBashStructureScore(const std::vector<std::string>& predictions,
                                              const std::vector<std::string>& references);

}  // namespace promptintern
