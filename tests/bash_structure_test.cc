#include "tasks/bash/bash_structure.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

using Segments = std::vector<BashCommandSegment>;

BashCommandSegment Seg(std::string utility, std::set<std::string> flags = {}) {
  return BashCommandSegment{std::move(utility), std::move(flags)};
}

std::string Describe(const Segments& segments) {
  std::string out;
  for (const BashCommandSegment& segment : segments) {
    out += "[" + segment.utility;
    for (const std::string& flag : segment.flags) out += " " + flag;
    out += "]";
  }
  return out;
}

void ExpectParse(const std::string& command, const Segments& expected) {
  const Segments actual = ParseBashStructure(command);
  EXPECT_EQ(actual, expected) << command << "\n  parsed as " << Describe(actual)
                              << "\n  expected  " << Describe(expected);
}

// ---------------------------------------------------------------------------------------------
// Parsing.

TEST(ParseBashStructureTest, EmptyAndBlankInputHaveNoSegments) {
  ExpectParse("", {});
  ExpectParse("   \t\n ; ", {});
  ExpectParse("# only a comment -l", {});
}

TEST(ParseBashStructureTest, SplitsShortOptionClusters) {
  ExpectParse("ls -la /tmp", {Seg("ls", {"-l", "-a"})});
  ExpectParse("tar -xzvf archive.tar.gz -C /opt", {Seg("tar", {"-x", "-z", "-v", "-f", "-C"})});
}

TEST(ParseBashStructureTest, ClusterStopsAtAttachedValue) {
  ExpectParse("cut -d, -f1,3 data.csv", {Seg("cut", {"-d", "-f"})});
  ExpectParse("tail -n5 file", {Seg("tail", {"-n"})});
}

TEST(ParseBashStructureTest, NumericOptionsStayWhole) {
  ExpectParse("head -5 file", {Seg("head", {"-5"})});
  ExpectParse("kill -9 123", {Seg("kill", {"-9"})});
}

TEST(ParseBashStructureTest, LongOptionsDropTheirValue) {
  ExpectParse("grep -rn --include=*.py --color TODO .",
              {Seg("grep", {"-r", "-n", "--include", "--color"})});
}

TEST(ParseBashStructureTest, DoubleDashEndsOptions) {
  ExpectParse("rm -rf -- -weird-file", {Seg("rm", {"-r", "-f"})});
}

TEST(ParseBashStructureTest, SplitsAtControlOperators) {
  ExpectParse("a -x | b -y && c || d; e & f |& g",
              {Seg("a", {"-x"}), Seg("b", {"-y"}), Seg("c"), Seg("d"), Seg("e"), Seg("f"),
               Seg("g")});
  ExpectParse("a\nb", {Seg("a"), Seg("b")});
}

TEST(ParseBashStructureTest, QuotedOperatorsDoNotSplit) {
  ExpectParse("grep -v \"a | b; c && d\" f | wc -l", {Seg("grep", {"-v"}), Seg("wc", {"-l"})});
  ExpectParse("git commit -m 'fix: x; y | z' --amend", {Seg("git", {"-m", "--amend"})});
  ExpectParse("echo a\\;b; ls", {Seg("echo"), Seg("ls")});
}

TEST(ParseBashStructureTest, SkipsAssignmentsAndWrappers) {
  ExpectParse("FOO=bar BAZ=\"q x\" python3 -m http.server", {Seg("python3", {"-m"})});
  ExpectParse("sudo -u root apt-get install -y vim", {Seg("apt-get", {"-y"})});
  ExpectParse("sudo nohup time -p ls -l", {Seg("ls", {"-l"})});
  ExpectParse("env -i PATH=/bin ls", {Seg("ls")});
}

TEST(ParseBashStructureTest, QuotedAssignmentLookalikeIsTheCommand) {
  ExpectParse("\"A=b\" c", {Seg("A=b")});
}

TEST(ParseBashStructureTest, UtilityIsBasename) {
  ExpectParse("/usr/bin/ls -l", {Seg("ls", {"-l"})});
  ExpectParse("./run.sh --fast", {Seg("run.sh", {"--fast"})});
  ExpectParse("\\ls -l", {Seg("ls", {"-l"})});
}

TEST(ParseBashStructureTest, CommandSubstitutionsAreSegmentsOfTheirOwn) {
  ExpectParse("echo $(date +%s) done", {Seg("echo"), Seg("date")});
  ExpectParse("echo `whoami`", {Seg("echo"), Seg("whoami")});
  ExpectParse("echo \"now: $(date -u)\"", {Seg("echo"), Seg("date", {"-u"})});
  ExpectParse("diff <(sort a) <(sort -r b)", {Seg("diff"), Seg("sort"), Seg("sort", {"-r"})});
  ExpectParse("x=$(ls -l | wc -l)", {Seg("ls", {"-l"}), Seg("wc", {"-l"})});
  ExpectParse("a=$(echo $(echo $(ls -l)))", {Seg("echo"), Seg("echo"), Seg("ls", {"-l"})});
}

TEST(ParseBashStructureTest, ArithmeticAndParameterExpansionsAreOpaque) {
  ExpectParse("echo $((1 + 2)) ${x:-a;b}", {Seg("echo")});
  ExpectParse("arr=(a b c); echo ${arr[@]}", {Seg("echo")});
}

TEST(ParseBashStructureTest, SubshellParenthesesSeparate) {
  ExpectParse("(cd /tmp && ls -l) || echo fail", {Seg("cd"), Seg("ls", {"-l"}), Seg("echo")});
}

TEST(ParseBashStructureTest, RedirectionsAndTheirTargetsAreDropped) {
  ExpectParse("cmd 2>/dev/null >out.txt <in.txt -v", {Seg("cmd", {"-v"})});
  ExpectParse("cmd > -notaflag 2>&1", {Seg("cmd")});
  ExpectParse("cmd &> log -q", {Seg("cmd", {"-q"})});
  ExpectParse("> out ls -a", {Seg("ls", {"-a"})});
  ExpectParse("2>/dev/null ls -a", {Seg("ls", {"-a"})});  // "2" is a descriptor, not a word.
}

TEST(ParseBashStructureTest, FindKeepsSingleDashOptionsAndSplitsOffExec) {
  ExpectParse("find . -name \"*.txt\" -type f -exec rm -f {} \\;",
              {Seg("find", {"-name", "-type", "-exec"}), Seg("rm", {"-f"})});
  ExpectParse("find / -name x -exec grep -l foo {} + -print",
              {Seg("find", {"-name", "-exec", "-print"}), Seg("grep", {"-l"})});
  ExpectParse("[ -f /etc/passwd ]", {Seg("[", {"-f"})});
}

TEST(ParseBashStructureTest, XargsRunsACommand) {
  ExpectParse("find . -print0 | xargs -0 -I {} sed -i 's/a/b/' {}",
              {Seg("find", {"-print0"}), Seg("xargs", {"-0", "-I"}), Seg("sed", {"-i"})});
  ExpectParse("ls | xargs -n1 rm -f", {Seg("ls"), Seg("xargs", {"-n"}), Seg("rm", {"-f"})});
}

TEST(ParseBashStructureTest, ShellDashCParsesItsScript) {
  ExpectParse("bash -c 'ls -l | wc -l'", {Seg("bash", {"-c"}), Seg("ls", {"-l"}),
                                          Seg("wc", {"-l"})});
}

TEST(ParseBashStructureTest, ControlKeywordsAreSkippedAndHeadersDropped) {
  ExpectParse("for f in *.txt; do mv -n \"$f\" b; done", {Seg("mv", {"-n"})});
  ExpectParse("if [ -d x ]; then rm -r x; fi", {Seg("[", {"-d"}), Seg("rm", {"-r"})});
  ExpectParse("while true; do sleep 1; done", {Seg("true"), Seg("sleep")});
  ExpectParse("'if' x", {Seg("if")});  // Quoted, so a command name rather than a keyword.
}

TEST(ParseBashStructureTest, CommentsEndTheLine) {
  ExpectParse("ls # -l\npwd -P", {Seg("ls"), Seg("pwd", {"-P"})});
  ExpectParse("echo a#b", {Seg("echo")});
}

TEST(ParseBashStructureTest, MalformedInputIsParsedLeniently) {
  ExpectParse("echo \"unterminated -x | y", {Seg("echo")});
  ExpectParse("echo 'unterminated", {Seg("echo")});
  ExpectParse("echo $(ls -l", {Seg("echo"), Seg("ls", {"-l"})});
  ExpectParse("ls -l \\", {Seg("ls", {"-l"})});
}

TEST(ParseBashStructureTest, DeepNestingIsBoundedAndFast) {
  std::string nested;
  for (int i = 0; i < 20000; ++i) nested += "$(";
  const Segments segments = ParseBashStructure("echo " + nested);
  EXPECT_FALSE(segments.empty());
  EXPECT_LE(segments.size(), 64u);
}

// ---------------------------------------------------------------------------------------------
// Score.

TEST(BashStructureScoreTest, IdenticalCommandsScoreOne) {
  for (const char* command :
       {"ls -la", "find . -name '*.py' | xargs grep -n TODO", "", "pwd", "echo $(date)"}) {
    EXPECT_DOUBLE_EQ(BashStructureScore(command, command), 1.0) << command;
  }
}

TEST(BashStructureScoreTest, StructurallyEqualCommandsScoreOne) {
  EXPECT_DOUBLE_EQ(BashStructureScore("ls -la", "ls -a -l"), 1.0);
  EXPECT_DOUBLE_EQ(BashStructureScore("rm -f a.txt", "rm -f /tmp/b.txt"), 1.0);
  EXPECT_DOUBLE_EQ(BashStructureScore("sort f | uniq -c", "uniq -c x | sort y"), 1.0);
  EXPECT_DOUBLE_EQ(BashStructureScore("sudo apt-get update", "apt-get update"), 1.0);
}

TEST(BashStructureScoreTest, DisjointCommandsScoreZero) {
  EXPECT_DOUBLE_EQ(BashStructureScore("ls -l", "wc -l"), 0.0);  // -l belongs to different tools.
  EXPECT_DOUBLE_EQ(BashStructureScore("ls", "pwd"), 0.0);
  EXPECT_DOUBLE_EQ(BashStructureScore("", "ls"), 0.0);
  EXPECT_DOUBLE_EQ(BashStructureScore("ls -a", ""), 0.0);
}

// Hand-computed: utilities {ls} vs {ls} -> F1 1; flags {ls -l} vs {ls -a, ls -l} -> 2*1/(1+2).
TEST(BashStructureScoreTest, MissingFlagCostsHalfItsShare) {
  EXPECT_NEAR(BashStructureScore("ls -l", "ls -la"), (1.0 + 2.0 / 3.0) / 2.0, 1e-12);
}

// Hand-computed: utilities {cat, grep} vs {cat, grep, wc} -> 2*2/(2+3) = 0.8; flags {} vs
// {grep -v, wc -l} -> 0; score (0.8 + 0) / 2.
TEST(BashStructureScoreTest, MissingPipelineStage) {
  EXPECT_NEAR(BashStructureScore("cat f | grep x", "cat f | grep -v x | wc -l"), 0.4, 1e-12);
}

// Hand-computed: no flags on either side, so the score is the utility F1 alone:
// multisets {ls, ls} vs {ls} -> 2*1/(2+1).
TEST(BashStructureScoreTest, UtilitiesAreAMultiset) {
  EXPECT_NEAR(BashStructureScore("ls; ls", "ls"), 2.0 / 3.0, 1e-12);
}

// Hand-computed: utilities {find, rm} vs {find, xargs, rm} -> 2*2/5 = 0.8; flags
// {find -name, find -exec, rm -f} vs {find -name, xargs -0, rm -f} -> 2*2/6 = 2/3.
TEST(BashStructureScoreTest, FindExecAgainstXargs) {
  EXPECT_NEAR(BashStructureScore("find . -name x -exec rm -f {} \\;",
                                 "find . -name x | xargs -0 rm -f"),
              (0.8 + 2.0 / 3.0) / 2.0, 1e-12);
}

TEST(BashStructureScoreTest, IsSymmetricAndBounded) {
  const std::vector<std::string> commands = {
      "ls -la", "ls", "find . -type f -name '*.c' -exec wc -l {} +", "cat a | sort | uniq -c",
      "grep -rn foo .", "tar czf a.tgz dir", "", "echo $(ls -1 | wc -l)", "sudo rm -rf /tmp/x"};
  for (const std::string& a : commands) {
    for (const std::string& b : commands) {
      const double ab = BashStructureScore(a, b);
      EXPECT_DOUBLE_EQ(ab, BashStructureScore(b, a)) << a << " vs " << b;
      EXPECT_GE(ab, 0.0);
      EXPECT_LE(ab, 1.0);
      if (a == b) {
        EXPECT_DOUBLE_EQ(ab, 1.0);
      }
    }
  }
}

TEST(BashStructureScoreTest, CloserCommandsScoreHigher) {
  const std::string reference = "find . -name '*.log' -mtime +7 -delete";
  const double close = BashStructureScore("find /var -name '*.log' -mtime +30 -print", reference);
  const double far = BashStructureScore("ls -l *.log", reference);
  EXPECT_GT(close, far);
  EXPECT_LT(close, 1.0);
}

TEST(MeanBashStructureScoreTest, AveragesPairs) {
  absl::StatusOr<double> mean = MeanBashStructureScore({"ls", "ls"}, {"ls", "pwd"});
  ASSERT_THAT(mean, IsOk());
  EXPECT_DOUBLE_EQ(*mean, 0.5);
}

TEST(MeanBashStructureScoreTest, RejectsEmptyAndMismatchedInput) {
  EXPECT_THAT(MeanBashStructureScore({}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MeanBashStructureScore({"ls"}, {"ls", "pwd"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace promptintern
