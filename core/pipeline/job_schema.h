// The fields of a job file, each declared once: its dotted path, its type and bounds, where it
// lives in JobSpec, when it is written back and what it means. From this one table
//   * ParseJobSpec knows which keys each section accepts and reads and checks every field,
//   * JobSpecToYaml writes the canonical YAML in the table's order,
//   * JobFieldReference renders the field tables of examples/jobs/README.md (a test keeps the
//     file equal to it; `promptintern job-fields --update` rewrites it).
// Defaults are JobSpec's member initializers, read through the same accessors, so a default is
// stated once too. What one field cannot say alone (a field bounded by another, a task kind that
// chooses defaults, files that must exist, mutually exclusive fields) is code in job_spec.cc; such
// fields are marked `read_by_code` and their documentation says the rule.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/pipeline/job_spec.h"

namespace promptintern {

struct IntRule {
  int64_t min;
  int64_t max;
  const char* description;  // "a positive integer": completes "expected ..."
};

struct DoubleRule {
  double min;
  bool min_inclusive;
  double max;
  bool max_inclusive;
  const char* description;
};

enum class JobFieldType {
  kInteger,      // within int_rule; written as a number
  kUnsigned,     // any 64-bit unsigned integer (seeds)
  kNumber,       // finite, within number_rule; written in its shortest exact decimal form
  kText,         // a string, written double-quoted (it may hold newlines or YAML words)
  kWord,         // one of choices(spec), or a name; written bare
  kPath,         // a file or directory, resolved against the job file's directory; written quoted
  kWordList,     // a non-empty list of distinct choices(spec)
  kNumberList,   // numbers within number_rule
  kIntegerList,  // integers within int_rule
};

// Where a field's value is held in JobSpec. Exactly the alternative of the field's C++ type.
using JobFieldAccess =
    std::variant<int64_t& (*)(JobSpec&), int& (*)(JobSpec&), uint64_t& (*)(JobSpec&), double& (*)(JobSpec&),
                 std::string& (*)(JobSpec&), std::vector<std::string>& (*)(JobSpec&),
                 std::vector<double>& (*)(JobSpec&), std::vector<int>& (*)(JobSpec&)>;

struct JobField {
  std::string path;  // dotted: "training.steps"; the last component is the key
  JobFieldType type;
  // Null only for a field held as something else (schedule.kind, an enum): `text` gives its value.
  JobFieldAccess access{static_cast<std::string& (*)(JobSpec&)>(nullptr)};
  std::string (*text)(const JobSpec&) = nullptr;
  IntRule int_rule{0, 0, ""};
  DoubleRule number_rule{0, false, 0, false, ""};
  bool allow_empty = false;  // kText: "" is a value
  // kWord, kWordList: the accepted values, given the fields read before (the task kind's metric).
  std::vector<std::string> (*choices)(const JobSpec&) = nullptr;
  // job_spec.cc reads and checks it itself; the table still declares it (accepted key, written
  // value, documentation).
  bool read_by_code = false;
  // The documentation states the accepted values itself (no sentence generated from the type).
  bool doc_states_rule = false;
  // Null: always written by JobSpecToYaml.
  bool (*written)(const JobSpec&) = nullptr;
  // The reference's Default column when it is not a fixed value ("the kind's name"); "" = the
  // value in a default JobSpec.
  const char* default_text = "";
  // The reference's Meaning column, after the sentence generated from the type and bounds (none
  // for read_by_code fields: their documentation states the whole rule).
  const char* doc = "";

  std::string Key() const { return path.substr(path.rfind('.') + 1); }
  std::string ParentPath() const { return path.find('.') == std::string::npos ? "" : path.substr(0, path.rfind('.')); }
};

// Every field, grouped by section in the order of the canonical YAML.
const std::vector<JobField>& JobFields();
// The field at `path`; aborts for a path the table does not declare (a programming error).
const JobField& JobFieldAt(absl::string_view path);

// The keys a section accepts, in order: its fields and its subsections ("" = the top level).
std::vector<std::string> JobSectionKeys(absl::string_view section);

// The shortest decimal form that reads back as exactly `value` ("0.6", not "0.59999999999999998").
std::string FormatJobNumber(double value);

// The Markdown field table of one top-level section ("" = the top-level fields), paths relative
// to the section, as examples/jobs/README.md holds it between
// "<!-- job-fields: SECTION -->" and "<!-- /job-fields -->".
std::string JobFieldReference(absl::string_view section);
// The top-level sections that have a table: "", "model", "task", ...
std::vector<std::string> JobReferenceSections();
// `markdown` with every marked table replaced by the current one; an error names a marker that
// is unknown, unclosed or missing.
absl::StatusOr<std::string> UpdateJobFieldReference(const std::string& markdown);

}  // namespace promptintern
