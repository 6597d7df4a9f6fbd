#include "core/data/jsonl.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace promptintern {
namespace {

absl::Status ValidateFields(const JsonlFields& fields) {
  if (fields.query_field.empty() || fields.answer_field.empty()) {
    return absl::InvalidArgumentError("JSONL field names must not be empty");
  }
  // With one field for both, a write would keep only the answer and a load would return
  // query == answer: almost certainly a configuration mistake.
  if (fields.query_field == fields.answer_field) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSONL query and answer fields are both \"", fields.query_field, "\""));
  }
  return absl::OkStatus();
}

absl::Status LineError(const std::string& path, size_t line_number, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, " line ", line_number, ": ", problem));
}

absl::StatusOr<std::string> StringField(const nlohmann::json& record, const std::string& field,
                                        const std::string& path, size_t line_number) {
  const auto it = record.find(field);
  if (it == record.end()) {
    return LineError(path, line_number, absl::StrCat("missing field \"", field, "\""));
  }
  if (!it->is_string()) {
    return LineError(
        path, line_number,
        absl::StrCat("field \"", field, "\" is a ", it->type_name(), ", expected a string"));
  }
  return it->get<std::string>();
}

}  // namespace

absl::StatusOr<std::vector<Example>> LoadJsonlExamples(const std::string& path,
                                                       const JsonlFields& fields, size_t limit) {
  RETURN_IF_ERROR(ValidateFields(fields));
  ASSIGN_OR_RETURN(const std::string content, ReadFile(path));

  std::vector<Example> examples;
  size_t line_number = 0;
  size_t line_start = 0;
  while (line_start < content.size() && (limit == 0 || examples.size() < limit)) {
    size_t line_end = content.find('\n', line_start);
    if (line_end == std::string::npos) line_end = content.size();
    const absl::string_view line(content.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;

    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::exception& e) {
      return LineError(path, line_number, absl::StrCat("invalid JSON: ", e.what()));
    }
    if (!record.is_object()) {
      return LineError(path, line_number,
                       absl::StrCat("expected a JSON object, got ", record.type_name()));
    }
    Example example;
    ASSIGN_OR_RETURN(example.query, StringField(record, fields.query_field, path, line_number));
    ASSIGN_OR_RETURN(example.answer, StringField(record, fields.answer_field, path, line_number));
    examples.push_back(std::move(example));
  }
  return examples;
}

absl::Status WriteJsonlExamples(const std::string& path, const std::vector<Example>& examples,
                                const JsonlFields& fields) {
  RETURN_IF_ERROR(ValidateFields(fields));
  std::string content;
  for (size_t i = 0; i < examples.size(); ++i) {
    // ordered_json keeps the query field first, which makes the files easier to read.
    nlohmann::ordered_json record;
    record[fields.query_field] = examples[i].query;
    record[fields.answer_field] = examples[i].answer;
    try {
      // dump() throws on strings that are not valid UTF-8.
      absl::StrAppend(&content, record.dump(), "\n");
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot write example ", i, " to ", path, ": ", e.what()));
    }
  }
  return WriteFileAtomic(path, content);
}

}  // namespace promptintern
