// The job file's schema (core/pipeline/job_schema.h): the canonical text stays what earlier
// versions wrote, every declared bound is enforced under the field's own name, and the field
// reference in examples/jobs/README.md is the generated one.
#include "core/pipeline/job_schema.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "core/pipeline/job_spec.h"
#include "core/util/file.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

std::string SourcePath(const std::string& relative) { return absl::StrCat(PROMPTINTERN_SOURCE_DIR, "/", relative); }

// A job that sets `path` (dotted) to `value` and nothing else, as nested flow mappings.
std::string JobSetting(const std::string& path, const std::string& value) {
  const std::vector<std::string> keys = absl::StrSplit(path, '.');
  std::string text = value;
  for (auto key = keys.rbegin(); key != keys.rend(); ++key) text = absl::StrCat("{", *key, ": ", text, "}");
  std::string yaml = text.substr(1, text.size() - 2);  // the top level is the document itself
  // promote's fields are read only beside the alias it requires.
  if (path.rfind("promote.", 0) == 0 && path != "promote.alias") {
    yaml = absl::StrCat("promote: {alias: production, ", text.substr(text.find('{', 1) + 1));
    yaml.pop_back();
  }
  return yaml;
}

// Texts JobSpecToYaml wrote before the schema existed (taken from runs of that build): a resumed
// run compares its job's canonical text with the job.yaml it wrote, so the text must not change.
TEST(JobSchemaTest, CanonicalTextIsWhatEarlierVersionsWrote) {
  for (const char* name : {"synthetic_lora_promote", "mbpp_query_only", "nl2bash_explicit_template"}) {
    SCOPED_TRACE(name);
    const std::string dir = testing::MakeTempDir(absl::StrCat("job_schema_", name));
    for (const char* file : {"mbpp.jsonl", "train.jsonl", "dev.jsonl"}) {
      std::ofstream(fs::path(dir) / file) << "{}\n";
    }
    absl::StatusOr<std::string> golden =
        ReadFile(SourcePath(absl::StrCat("tests/data/canonical_jobs/", name, ".yaml")));
    ASSERT_THAT(golden.status(), IsOk());
    const std::string text = absl::StrReplaceAll(*golden, {{"@DIR@", dir}});
    absl::StatusOr<JobSpec> spec = ParseJobSpec(text, dir);
    ASSERT_THAT(spec.status(), IsOk());
    EXPECT_EQ(JobSpecToYaml(*spec), text);
  }
}

TEST(JobSchemaTest, EveryDeclaredBoundIsEnforcedUnderTheFieldsName) {
  const std::string dir = testing::MakeTempDir("job_schema_bounds");
  int checked = 0;
  for (const JobField& field : JobFields()) {
    if (field.read_by_code) continue;
    SCOPED_TRACE(field.path);
    std::vector<std::string> refused;
    std::string expected;
    switch (field.type) {
      case JobFieldType::kInteger: {
        const bool int_type = std::holds_alternative<int& (*)(JobSpec&)>(field.access);
        if (field.int_rule.max < (int_type ? std::numeric_limits<int>::max() : std::numeric_limits<int64_t>::max())) {
          refused.push_back(absl::StrCat(field.int_rule.max + 1));
        }
        if (field.int_rule.min > std::numeric_limits<int>::min()) refused.push_back(absl::StrCat(field.int_rule.min - 1));
        refused.push_back("twelve");
        break;
      }
      case JobFieldType::kUnsigned:
        refused = {"-1", "twelve"};
        break;
      case JobFieldType::kNumber:
        refused = {"inf", "twelve"};
        if (field.number_rule.max < std::numeric_limits<double>::infinity()) refused.push_back("1.5");
        if (field.number_rule.min > -std::numeric_limits<double>::infinity()) refused.push_back("-0.5");
        break;
      case JobFieldType::kWord:
      case JobFieldType::kWordList:
        refused = {field.type == JobFieldType::kWord ? "bogus" : "[bogus]"};
        expected = "expected one of";
        break;
      case JobFieldType::kText:
        refused = {"[a, list]"};
        break;
      case JobFieldType::kPath:
        refused = {"[a, list]"};
        break;
      case JobFieldType::kNumberList:
      case JobFieldType::kIntegerList:
        refused = {"[twelve]", "7"};
        break;
    }
    for (const std::string& value : refused) {
      const std::string job = JobSetting(field.path, value);
      SCOPED_TRACE(job);
      absl::StatusOr<JobSpec> spec = ParseJobSpec(job, dir);
      ASSERT_FALSE(spec.ok());
      EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(std::string(spec.status().message()).rfind(field.path, 0), 0u) << spec.status().message();
      if (!expected.empty()) {
        EXPECT_NE(spec.status().message().find(expected), absl::string_view::npos);
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(JobSchemaTest, EverySectionKeyIsDeclaredAndEveryTypeWritesBack) {
  // The keys the parser accepts are the schema's: an undeclared one is refused with a suggestion
  // from the declared ones.
  const std::string dir = testing::MakeTempDir("job_schema_keys");
  absl::StatusOr<JobSpec> typo = ParseJobSpec("eval: {prices: {input_per_milion: 1}}", dir);
  EXPECT_THAT(typo.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "unknown field 'eval.prices.input_per_milion'; did you mean "
                                      "'input_per_million'? (line 1, column 17)"));
  EXPECT_EQ(JobSectionKeys("eval"), (std::vector<std::string>{"limit", "stage_limit", "max_new_tokens", "modes",
                                                               "compressed_keep_ratio", "prices"}));
  // A field of every type, set to a value other than its default, comes back from the canonical text.
  const std::string job =
      "seed: 18446744073709551615\n"
      "model: {scratch: {num_layers: 3}, lora: {dropout: 0.125, target_modules: [o_proj]}}\n"
      "task: {name: \"a: b\", format: {query_prefix: \"\"}}\n"
      "schedule: {keep_ratios: [1, 0.5, 0], num_examples: [2, 1, 0]}\n"
      "eval: {modes: [compressed]}\n";
  absl::StatusOr<JobSpec> spec = ParseJobSpec(job, dir);
  ASSERT_THAT(spec.status(), IsOk());
  EXPECT_EQ(spec->seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(spec->model.scratch.num_layers, 3);
  EXPECT_EQ(spec->schedule.num_stages, 3);  // inferred from the lists
  absl::StatusOr<JobSpec> again = ParseJobSpec(JobSpecToYaml(*spec), dir);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(JobSpecToYaml(*again), JobSpecToYaml(*spec));
  EXPECT_EQ(again->task.name, "a: b");
  EXPECT_EQ(again->task.format.query_prefix, "");
  EXPECT_EQ(again->model.lora_dropout, 0.125);
  EXPECT_EQ(again->model.lora_target_modules, std::vector<std::string>{"o_proj"});
  EXPECT_EQ(again->schedule.keep_ratios, (std::vector<double>{1, 0.5, 0}));
  EXPECT_EQ(again->schedule.num_examples, (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(again->eval.modes, std::vector<std::string>{"compressed"});
}

TEST(JobSchemaTest, ReadmeFieldTablesAreTheGeneratedOnes) {
  absl::StatusOr<std::string> readme = ReadFile(SourcePath("examples/jobs/README.md"));
  ASSERT_THAT(readme.status(), IsOk());
  for (const std::string& section : JobReferenceSections()) {
    EXPECT_NE(readme->find(absl::StrCat("<!-- job-fields: ", section.empty() ? "top" : section, " -->")),
              std::string::npos)
        << "no generated table for section '" << section << "'";
  }
  absl::StatusOr<std::string> updated = UpdateJobFieldReference(*readme);
  ASSERT_THAT(updated.status(), IsOk());
  EXPECT_EQ(*updated, *readme) << "examples/jobs/README.md's field tables differ from core/pipeline/job_schema.cc; "
                                  "run `build/bin/promptintern job-fields --update examples/jobs/README.md`";

  // A marker the schema does not know, or one left open, is named.
  EXPECT_THAT(UpdateJobFieldReference("<!-- job-fields: modle -->\n<!-- /job-fields -->\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("unknown job-fields section 'modle'")));
  EXPECT_THAT(UpdateJobFieldReference("<!-- job-fields: model -->\n| stale |\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("has no <!-- /job-fields -->")));
  // The generated table states each field's default and bounds.
  const std::string training = JobFieldReference("training");
  EXPECT_NE(training.find("| `steps` | `400` | A positive integer, at most 100000000. Total optimizer steps. |"),
            std::string::npos)
      << training;
}

}  // namespace
}  // namespace promptintern
