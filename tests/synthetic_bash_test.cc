// Tests for the synthetic English-to-bash task (tasks/bash/synthetic_bash) and its long prompt
// (tasks/bash/bash_template): determinism, richness, split hygiene, and spot checks that the
// English and the command agree for specific command shapes.
#include "tasks/bash/synthetic_bash.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tasks/bash/bash_template.h"
#include "gtest/gtest.h"

namespace promptintern {
namespace {

// Kept independent of the generator on purpose: a new utility must be added here deliberately.
const std::set<std::string>& KnownUtilities() {
  static const std::set<std::string> kUtilities = {
      "find", "grep",  "ls",  "wc",   "sort",  "head", "tail", "du",    "df",   "chmod", "chown",
      "tar",  "cp",    "mv",  "rm",   "mkdir", "ps",   "kill", "pkill", "sed",  "awk",   "cut",
      "uniq", "xargs", "cat", "echo", "touch", "ln",   "zip",  "unzip", "gzip", "diff"};
  return kUtilities;
}

std::string FirstWord(const std::string& text) { return text.substr(0, text.find(' ')); }

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

bool ContainsAny(const std::string& text, const std::vector<std::string>& fragments) {
  for (const std::string& fragment : fragments) {
    if (Contains(text, fragment)) return true;
  }
  return false;
}

size_t WordCount(std::string_view text) {
  std::istringstream stream{std::string(text)};
  size_t words = 0;
  std::string word;
  while (stream >> word) ++words;
  return words;
}

const std::vector<Example>& FiveThousand() {
  static const std::vector<Example> kExamples = GenerateSyntheticBash(2024, 5000);
  return kExamples;
}

TEST(SyntheticBashTest, SameSeedSameOutputDifferentSeedDifferentOutput) {
  const std::vector<Example> first = GenerateSyntheticBash(42, 500);
  const std::vector<Example> again = GenerateSyntheticBash(42, 500);
  const std::vector<Example> other = GenerateSyntheticBash(43, 500);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  size_t same_position = 0;
  for (size_t i = 0; i < first.size(); ++i) same_position += first[i] == other[i];
  EXPECT_LT(same_position, 25u) << "different seeds should give essentially different streams";
}

uint64_t Fingerprint(const std::vector<Example>& examples) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const Example& example : examples) {
    for (const std::string* text : {&example.query, &example.answer}) {
      for (const char c : *text) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
      }
      hash = (hash ^ 0xFFu) * 0x100000001b3ULL;  // separator
    }
  }
  return hash;
}

// Pins the exact output so that (a) a platform where it differs, e.g. another standard library,
// fails here rather than silently training on a different data set, and (b) changes to the
// distribution are deliberate. After changing the generator on purpose, update the constant.
TEST(SyntheticBashTest, OutputIsPinned) {
  const std::vector<Example> examples = GenerateSyntheticBash(1, 200);
  const uint64_t fingerprint = Fingerprint(examples);
  EXPECT_EQ(fingerprint, 0x350911c006c03554ULL)
      << "now 0x" << std::hex << fingerprint << "; first query: " << examples.front().query;
}

TEST(SyntheticBashTest, PrefixStable) {
  // A longer request extends a shorter one instead of reshuffling it.
  const std::vector<Example> short_run = GenerateSyntheticBash(9, 100);
  const std::vector<Example> long_run = GenerateSyntheticBash(9, 300);
  ASSERT_EQ(short_run.size(), 100u);
  ASSERT_EQ(long_run.size(), 300u);
  EXPECT_TRUE(std::equal(short_run.begin(), short_run.end(), long_run.begin()));
  EXPECT_TRUE(GenerateSyntheticBash(9, 0).empty());
}

TEST(SyntheticBashTest, RichDistribution) {
  std::set<std::string> queries;
  std::set<std::string> answers;
  std::set<std::string> first_words;
  for (const Example& example : FiveThousand()) {
    queries.insert(example.query);
    answers.insert(example.answer);
    first_words.insert(FirstWord(example.answer));
  }
  EXPECT_GE(queries.size(), 3000u);
  EXPECT_GE(answers.size(), 2500u);
  // Every known utility should start some command, except those that only appear mid-pipeline.
  for (const std::string& utility : KnownUtilities()) {
    if (utility == "xargs" || utility == "uniq") continue;
    EXPECT_TRUE(first_words.count(utility)) << utility << " never starts a command";
  }
}

TEST(SyntheticBashTest, AnswersAreSingleCommandsOfKnownUtilities) {
  std::set<std::string> pipeline_words;
  for (const Example& example : FiveThousand()) {
    EXPECT_TRUE(KnownUtilities().count(FirstWord(example.answer)))
        << "unknown utility in: " << example.answer;
    EXPECT_FALSE(Contains(example.answer, "\n")) << example.answer;
    EXPECT_FALSE(Contains(example.answer, "&&")) << example.answer;
    EXPECT_FALSE(Contains(example.answer, "  ")) << example.answer;
    // Every stage of a pipeline is a known utility too.
    size_t bar = example.answer.find(" | ");
    while (bar != std::string::npos) {
      const std::string stage = FirstWord(example.answer.substr(bar + 3));
      EXPECT_TRUE(KnownUtilities().count(stage)) << stage << " in: " << example.answer;
      pipeline_words.insert(stage);
      bar = example.answer.find(" | ", bar + 3);
    }
  }
  EXPECT_TRUE(pipeline_words.count("xargs"));
  EXPECT_TRUE(pipeline_words.count("uniq"));
}

TEST(SyntheticBashTest, QueriesAreCleanEnglish) {
  for (const Example& example : FiveThousand()) {
    ASSERT_FALSE(example.query.empty());
    EXPECT_TRUE(std::isupper(static_cast<unsigned char>(example.query[0]))) << example.query;
    EXPECT_FALSE(Contains(example.query, "{")) << "unfilled placeholder: " << example.query;
    EXPECT_FALSE(Contains(example.query, "}")) << "unfilled placeholder: " << example.query;
    EXPECT_FALSE(Contains(example.query, "  ")) << example.query;
    EXPECT_FALSE(Contains(example.query, " 1 days")) << example.query;
  }
}

TEST(SyntheticBashTest, EachQueryHasOneAnswer) {
  // Two different commands for the same English would be unlearnable noise.
  std::map<std::string, std::string> answer_for;
  for (const Example& example : GenerateSyntheticBash(77, 30000)) {
    const auto [it, inserted] = answer_for.emplace(example.query, example.answer);
    if (!inserted) {
      EXPECT_EQ(it->second, example.answer) << "query: " << example.query;
    }
  }
}

TEST(SyntheticBashTest, SplitsHaveRequestedSizesAndShareNoQuery) {
  const SyntheticBashSplits splits = MakeSyntheticBashTask(5, 2000, 300, 200);
  ASSERT_EQ(splits.train.size(), 2000u);
  ASSERT_EQ(splits.validation.size(), 300u);
  ASSERT_EQ(splits.pool.size(), 200u);
  std::set<std::string> queries;
  for (const auto* part : {&splits.train, &splits.validation, &splits.pool}) {
    for (const Example& example : *part) {
      EXPECT_TRUE(queries.insert(example.query).second) << "repeated: " << example.query;
    }
  }
  EXPECT_EQ(queries.size(), 2500u);
}

TEST(SyntheticBashTest, SplitsAreDeterministicAndValidationIgnoresTrainSize) {
  const SyntheticBashSplits first = MakeSyntheticBashTask(11, 500, 100, 50);
  const SyntheticBashSplits again = MakeSyntheticBashTask(11, 500, 100, 50);
  EXPECT_EQ(first.train, again.train);
  EXPECT_EQ(first.validation, again.validation);
  EXPECT_EQ(first.pool, again.pool);

  const SyntheticBashSplits bigger_train = MakeSyntheticBashTask(11, 1500, 100, 50);
  EXPECT_EQ(first.validation, bigger_train.validation);
  EXPECT_EQ(first.pool, bigger_train.pool);

  const SyntheticBashSplits other_seed = MakeSyntheticBashTask(12, 500, 100, 50);
  EXPECT_NE(first.validation, other_seed.validation);

  const SyntheticBashSplits nothing = MakeSyntheticBashTask(11, 0, 0, 0);
  EXPECT_TRUE(nothing.train.empty() && nothing.validation.empty() && nothing.pool.empty());
}

// For a command shape (a regex over the answer), checks that the query mentions what the
// capture groups hold and uses one of the expected words. Requires the shape to occur.
void ExpectShapeAgrees(const std::string& answer_regex, const std::vector<std::string>& wording,
                       std::vector<int> groups_in_query = {}) {
  const std::regex shape(answer_regex);
  int matched = 0;
  for (const Example& example : FiveThousand()) {
    std::smatch match;
    if (!std::regex_match(example.answer, match, shape)) continue;
    ++matched;
    if (!wording.empty()) {
      EXPECT_TRUE(ContainsAny(example.query, wording))
          << "query: " << example.query << "\nanswer: " << example.answer;
    }
    for (int group : groups_in_query) {
      EXPECT_TRUE(Contains(example.query, match[group].str()))
          << "query lacks \"" << match[group] << "\": " << example.query
          << "\nanswer: " << example.answer;
    }
  }
  EXPECT_GT(matched, 0) << "shape never generated: " << answer_regex;
}

TEST(SyntheticBashTest, HeadAndTailCountsMatchTheEnglish) {
  ExpectShapeAgrees(R"(head -n (\d+) (\S+))", {"first", "top"}, {1, 2});
  ExpectShapeAgrees(R"(tail -n (\d+) (\S+))", {"last", "final", "bottom"}, {1, 2});
  ExpectShapeAgrees(R"(tail -f (\S+))", {"Follow", "Watch", "Continuously"}, {1});
}

TEST(SyntheticBashTest, WcFlagsMatchTheEnglish) {
  ExpectShapeAgrees(R"(wc -l (\S+))", {"lines", "line count"}, {1});
  ExpectShapeAgrees(R"(wc -w (\S+))", {"words", "word count"}, {1});
  ExpectShapeAgrees(R"(wc -c (\S+))", {"bytes"}, {1});
}

TEST(SyntheticBashTest, FindTestsMatchTheEnglish) {
  ExpectShapeAgrees(R"(find \S+ -type f -mtime -(\d+))", {"last", "past", "less than"}, {1});
  ExpectShapeAgrees(R"(find \S+ -type f -mtime \+(\d+))", {"more than", "older than"}, {1});
  ExpectShapeAgrees(R"(find \S+ -type f -name '\*\.(\w+)')", {"file"}, {1});
  ExpectShapeAgrees(R"(find \S+ -type f -name '\*\.(\w+)' -delete)", {"Delete", "Remove", "delete"},
                    {1});
  ExpectShapeAgrees(R"(find \S+ -type f -size \+100M)", {"100 MB"});
  ExpectShapeAgrees(R"(find \S+ -type f -size \+1G)", {"1 GB"});
  ExpectShapeAgrees(R"(find \S+ -maxdepth 1 -type f)", {"directly", "top level", "not in its"});
  ExpectShapeAgrees(R"(find \. .*)", {"current", "working"});
  ExpectShapeAgrees(R"(find ~ .*)", {"home directory"});
  ExpectShapeAgrees(R"(find (/var/log) .*)", {}, {1});
}

TEST(SyntheticBashTest, GrepFlagsMatchTheEnglish) {
  ExpectShapeAgrees(R"(grep '([^']+)' (\S+))", {"contain", "Search", "matching"}, {1, 2});
  ExpectShapeAgrees(R"(grep -i '([^']+)' (\S+))",
                    {"ignoring case", "Case-insensitively", "any letter case"}, {1, 2});
  ExpectShapeAgrees(R"(grep -v '([^']+)' (\S+))", {"do not", "without", "Filter out"}, {1, 2});
  ExpectShapeAgrees(R"(grep -c '([^']+)' (\S+))", {"Count", "How many", "number of"}, {1, 2});
  ExpectShapeAgrees(R"(grep -rl '([^']+)' (\S+))", {"files"}, {1});
  ExpectShapeAgrees(R"(grep -w '([^']+)' (\S+))", {"word"}, {1, 2});
  ExpectShapeAgrees(R"(grep -E '(\w+)\|(\w+)' (\S+))", {" or "}, {1, 2, 3});
}

TEST(SyntheticBashTest, EditingAndPermissionsMatchTheEnglish) {
  ExpectShapeAgrees(R"(sed -i 's/([^/]+)/([^/]+)/g' (\S+))", {"in place", "directly"}, {1, 2, 3});
  ExpectShapeAgrees(R"(sed 's/([^/]+)/([^/]+)/g' (\S+))", {"without modifying", "output only"},
                    {1, 2, 3});
  ExpectShapeAgrees(R"(chmod -R (\d{3}) (\S+))", {"Recursively", "all its contents"}, {1, 2});
  ExpectShapeAgrees(R"(chmod 755 (\S+))", {"755", "executable by everyone"}, {1});
  ExpectShapeAgrees(R"(chmod u\+x (\S+))", {"owner"}, {1});
  ExpectShapeAgrees(R"(chown -R (\S+):(\S+) (\S+))", {"Recursively", "everything inside"}, {1, 2});
}

TEST(SyntheticBashTest, ArchivesAndProcessesMatchTheEnglish) {
  ExpectShapeAgrees(R"(tar czf (\S+) (\S+))", {"Create", "Compress", "Archive"}, {1});
  ExpectShapeAgrees(R"(tar xzf (\S+))", {"Extract", "Unpack", "extract"}, {1});
  ExpectShapeAgrees(R"(tar tzf (\S+))", {"List", "Show which"}, {1});
  ExpectShapeAgrees(R"(kill -9 (\d+))", {"Forcefully", "SIGKILL"}, {1});
  ExpectShapeAgrees(R"(kill (\d+))", {"Terminate", "SIGTERM", "exit"}, {1});
  ExpectShapeAgrees(R"(cat (\S+) \| sort \| uniq -c \| sort -nr \| head -n (\d+))",
                    {"most frequent", "most often", "most common"}, {1, 2});
  ExpectShapeAgrees(R"(mkdir -p (\S+))", {"parent", "nested"}, {1});
  ExpectShapeAgrees(R"(rm -rf (\S+))", {"Forcefully", "force-delete"});
}

TEST(BashTemplateTest, PromptIsLongAndCoversTheUtilities) {
  const std::string_view instruction = SyntheticBashInstruction();
  const std::string_view document = SyntheticBashDocument();
  const size_t words = WordCount(instruction) + WordCount(document);
  EXPECT_GE(words, 600u);
  EXPECT_LE(words, 1200u);
  EXPECT_TRUE(Contains(std::string(instruction), "bash"));

  const std::string reference(document);
  for (const std::string& utility : KnownUtilities()) {
    EXPECT_TRUE(Contains(reference, utility + " ")) << utility << " is not documented";
  }

  // The point of the method: the recurring prompt dwarfs a typical query.
  size_t query_words = 0;
  for (const Example& example : FiveThousand()) query_words += WordCount(example.query);
  const double mean_query_words = static_cast<double>(query_words) / FiveThousand().size();
  EXPECT_GT(static_cast<double>(words), 40.0 * mean_query_words);
}

}  // namespace
}  // namespace promptintern
