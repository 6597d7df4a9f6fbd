// Tests for core/data/jsonl: round trips, line-numbered errors for each kind of malformed line,
// and (when the shared data sets are present) loading the real NL2Bash dev split.
#include "core/data/jsonl.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/file.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

// Field names of the data sets under shared/data (see its README).
JsonlFields Nl2BashFields() { return {"nl", "bash"}; }
JsonlFields MbppFields() { return {"text", "code"}; }

// Plain gtest (no gmock): the test binaries link only gtest and gtest_main.
::testing::AssertionResult Contains(const std::string& text, const std::string& fragment) {
  if (text.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\" does not contain \"" << fragment << "\"";
}

std::string TempPath(const std::string& name) {
  return JoinPath(::testing::TempDir(), absl::StrCat("jsonl_test_", ::getpid(), "_", name));
}

std::string WriteRaw(const std::string& name, const std::string& content) {
  const std::string path = TempPath(name);
  EXPECT_THAT(WriteFileAtomic(path, content), IsOk());
  return path;
}

// Finds shared/data (which sits beside the checkout) whether the test runs from the repo root,
// a build directory below it, or anywhere else with PROMPTINTERN_SHARED naming the shared folder.
std::string FindSharedData(const std::string& relative) {
  if (const char* shared = std::getenv("PROMPTINTERN_SHARED")) {
    const std::string candidate = JoinPath(JoinPath(shared, "data"), relative);
    if (PathExists(candidate)) return candidate;
  }
#ifdef PROMPTINTERN_SOURCE_DIR  // defined by the CMake build
  const std::string beside_checkout =
      absl::StrCat(PROMPTINTERN_SOURCE_DIR, "/../shared/data/", relative);
  if (PathExists(beside_checkout)) return beside_checkout;
#endif
  std::string up;
  for (int depth = 0; depth < 5; ++depth) {
    const std::string candidate = absl::StrCat(up, "../shared/data/", relative);
    if (PathExists(candidate)) return candidate;
    up += "../";
  }
  return "";
}

TEST(JsonlTest, RoundTripPreservesTextExactly) {
  const std::vector<Example> examples = {
      {"List all files", "ls -la"},
      {"Quotes \"and\" backslashes \\ and\ttabs", "grep -E 'a|b' f.txt | wc -l"},
      {"Multi-line\nquery", "awk '{print $1}' f\n"},
      {"Unicode: caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x99\x82", ""},
  };
  const std::string path = TempPath("round_trip.jsonl");
  ASSERT_THAT(WriteJsonlExamples(path, examples, Nl2BashFields()), IsOk());
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, Nl2BashFields());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*loaded, examples);

  // One object per line, query field first, so the file is readable and greppable.
  const absl::StatusOr<std::string> raw = ReadFile(path);
  ASSERT_THAT(raw, IsOk());
  EXPECT_EQ(raw->rfind("{\"nl\":\"List all files\",\"bash\":\"ls -la\"}\n", 0), 0u) << *raw;
}

TEST(JsonlTest, WritingEmptyListGivesEmptyFile) {
  const std::string path = TempPath("empty.jsonl");
  ASSERT_THAT(WriteJsonlExamples(path, {}, MbppFields()), IsOk());
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, MbppFields());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_TRUE(loaded->empty());
}

TEST(JsonlTest, SkipsBlankLinesIgnoresExtraFieldsAndAcceptsCrlf) {
  const std::string path =
      WriteRaw("blank.jsonl",
               "\n{\"nl\": \"a\", \"bash\": \"b\", \"extra\": [1, 2]}\r\n   \n\t\n"
               "{\"bash\": \"d\", \"nl\": \"c\"}");  // no trailing newline on the last record
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, Nl2BashFields());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*loaded, (std::vector<Example>{{"a", "b"}, {"c", "d"}}));
}

TEST(JsonlTest, LimitStopsEarly) {
  const std::string path = WriteRaw("limit.jsonl",
                                    "{\"q\":\"1\",\"a\":\"x\"}\n{\"q\":\"2\",\"a\":\"y\"}\n"
                                    "{\"q\":\"3\",\"a\":\"z\"}\nthis line is never read\n");
  const JsonlFields fields{"q", "a"};
  const absl::StatusOr<std::vector<Example>> two = LoadJsonlExamples(path, fields, 2);
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(*two, (std::vector<Example>{{"1", "x"}, {"2", "y"}}));
  // Without a limit the bad fourth line is reached and reported.
  const absl::StatusOr<std::vector<Example>> all = LoadJsonlExamples(path, fields);
  ASSERT_FALSE(all.ok());
  EXPECT_TRUE(Contains(std::string(all.status().message()), "line 4"));
}

struct MalformedCase {
  std::string name;
  std::string content;
  int bad_line;
  std::string problem;  // expected fragment of the error message
};

class MalformedJsonlTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedJsonlTest, ReportsFileLineAndProblem) {
  const MalformedCase& test_case = GetParam();
  const std::string path = WriteRaw(test_case.name + ".jsonl", test_case.content);
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, Nl2BashFields());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(loaded.status().message());
  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, absl::StrCat("line ", test_case.bad_line, ":")));
  EXPECT_TRUE(Contains(message, test_case.problem));
}

const char kGood[] = "{\"nl\": \"q\", \"bash\": \"a\"}\n";

INSTANTIATE_TEST_SUITE_P(
    AllKinds, MalformedJsonlTest,
    ::testing::Values(
        MalformedCase{"invalid_json", absl::StrCat(kGood, kGood, "{\"nl\": \"q\", \"bash\": }\n"),
                      3, "invalid JSON"},
        MalformedCase{"truncated", absl::StrCat(kGood, "{\"nl\": \"q\"\n"), 2, "invalid JSON"},
        MalformedCase{"trailing_garbage", absl::StrCat("{\"nl\":\"q\",\"bash\":\"a\"} x\n"), 1,
                      "invalid JSON"},
        MalformedCase{"array", absl::StrCat(kGood, "[\"q\", \"a\"]\n"), 2,
                      "expected a JSON object"},
        MalformedCase{"string", absl::StrCat("\"just text\"\n"), 1, "expected a JSON object"},
        MalformedCase{"missing_query", absl::StrCat(kGood, "\n\n{\"bash\": \"a\"}\n"), 4,
                      "missing field \"nl\""},
        MalformedCase{"missing_answer", absl::StrCat(kGood, "{\"nl\": \"q\", \"cmd\": \"a\"}\n"), 2,
                      "missing field \"bash\""},
        MalformedCase{"number_field", absl::StrCat("{\"nl\": 7, \"bash\": \"a\"}\n"), 1,
                      "field \"nl\" is a number"},
        MalformedCase{"null_field", absl::StrCat(kGood, kGood, "{\"nl\": \"q\", \"bash\": null}\n"),
                      3, "field \"bash\" is a null"},
        MalformedCase{"list_field", absl::StrCat("{\"nl\": [\"q\"], \"bash\": \"a\"}\n"), 1,
                      "expected a string"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(JsonlTest, MissingFileIsNotFound) {
  const absl::StatusOr<std::vector<Example>> loaded =
      LoadJsonlExamples(TempPath("does_not_exist.jsonl"), Nl2BashFields());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded, StatusIs(absl::StatusCode::kNotFound));
}

TEST(JsonlTest, RejectsUnusableFieldNames) {
  const std::string path = WriteRaw("fields.jsonl", kGood);
  EXPECT_FALSE(LoadJsonlExamples(path, JsonlFields{"nl", "nl"}).ok());
  EXPECT_FALSE(LoadJsonlExamples(path, JsonlFields{"", "bash"}).ok());
  EXPECT_FALSE(WriteJsonlExamples(TempPath("same.jsonl"), {{"q", "a"}}, {"x", "x"}).ok());
}

TEST(JsonlTest, InvalidUtf8IsAnErrorNotACrash) {
  const absl::Status status = WriteJsonlExamples(
      TempPath("bad_utf8.jsonl"), {{"ok", "fine"}, {"bad \xFF byte", "a"}}, Nl2BashFields());
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Contains(std::string(status.message()), "example 1"));
}

TEST(JsonlTest, LoadsNl2BashDevSplit) {
  const std::string path = FindSharedData("nl2bash/dev.jsonl");
  if (path.empty()) {
    GTEST_SKIP() << "shared/data/nl2bash/dev.jsonl not found (set PROMPTINTERN_SHARED to the "
                    "shared folder to run this test)";
  }
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, Nl2BashFields());
  ASSERT_THAT(loaded, IsOk());
  ASSERT_EQ(loaded->size(), 609u);
  EXPECT_EQ(loaded->front().query, "Add executable permission to \"pretty-print\"");
  EXPECT_EQ(loaded->front().answer, "chmod +x pretty-print");
  for (const Example& example : *loaded) {
    EXPECT_FALSE(example.query.empty());
    EXPECT_FALSE(example.answer.empty());
  }
  const absl::StatusOr<std::vector<Example>> first_ten =
      LoadJsonlExamples(path, Nl2BashFields(), 10);
  ASSERT_THAT(first_ten, IsOk());
  EXPECT_EQ(first_ten->size(), 10u);
}

TEST(JsonlTest, LoadsMbppWithItsOwnFieldNames) {
  const std::string path = FindSharedData("mbpp/mbpp.jsonl");
  if (path.empty()) GTEST_SKIP() << "shared/data/mbpp/mbpp.jsonl not found";
  const absl::StatusOr<std::vector<Example>> loaded = LoadJsonlExamples(path, MbppFields());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->size(), 974u);
  // The NL2Bash field names do not fit MBPP: the error must point at the first record.
  const absl::StatusOr<std::vector<Example>> wrong = LoadJsonlExamples(path, Nl2BashFields());
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(Contains(std::string(wrong.status().message()), "line 1:"));
}

}  // namespace
}  // namespace promptintern
