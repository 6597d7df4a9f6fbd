#include "tasks/mbpp/mbpp_task.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace promptintern {
namespace {

// Task ids of each split (shared/data/README.md).
constexpr int64_t kLastPromptingId = 10;
constexpr int64_t kFirstValidationId = 511;
constexpr int64_t kLastValidationId = 600;
constexpr int64_t kFirstTrainId = 601;

std::string CleanCode(absl::string_view code) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(code, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);  // also the '\r' of "\r\n"
    if (!line.empty()) lines.emplace_back(line);
  }
  return absl::StrJoin(lines, "\n");
}

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

struct Problem {
  int64_t task_id = 0;
  Example example;
};

absl::StatusOr<std::vector<Problem>> ReadProblems(const std::string& path, const JsonlFields& fields) {
  ASSIGN_OR_RETURN(const std::string content, ReadFile(path));
  std::vector<Problem> problems;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, " line ", line_number, ": ", what));
    };
    const nlohmann::json record = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) return bad("not a JSON object");
    const auto text = record.find(fields.query_field);
    const auto code = record.find(fields.answer_field);
    const auto id = record.find("task_id");
    if (text == record.end() || !text->is_string()) return bad(absl::StrCat("\"", fields.query_field, "\" must be a string"));
    if (code == record.end() || !code->is_string()) return bad(absl::StrCat("\"", fields.answer_field, "\" must be a string"));
    if (id == record.end() || !id->is_number_integer()) return bad("\"task_id\" must be an integer");
    Problem problem{id->get<int64_t>(), {text->get<std::string>(), CleanCode(code->get<std::string>())}};
    if (problem.example.answer.empty()) return bad("the code is empty");
    problems.push_back(std::move(problem));
  }
  return problems;
}

std::vector<Example> ExamplesOf(std::vector<Problem> problems) {
  std::vector<Example> examples;
  for (Problem& problem : problems) examples.push_back(std::move(problem.example));
  return examples;
}

}  // namespace

absl::StatusOr<TaskSplits> LoadMbppSplits(const std::string& path, const JsonlFields& fields) {
  ASSIGN_OR_RETURN(std::vector<Problem> problems, ReadProblems(path, fields));
  TaskSplits splits;
  for (Problem& problem : problems) {
    if (problem.task_id >= 1 && problem.task_id <= kLastPromptingId) {
      splits.pool.push_back(std::move(problem.example));
    } else if (problem.task_id >= kFirstValidationId && problem.task_id <= kLastValidationId) {
      splits.validation.push_back(std::move(problem.example));
    } else if (problem.task_id >= kFirstTrainId) {
      splits.train.push_back(std::move(problem.example));
    }  // else the test split, held out
  }
  return splits;
}

std::vector<std::string> PythonTokens(std::string_view code) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < code.size()) {
    const char c = code[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (IsNameChar(c)) {
      size_t end = i;
      while (end < code.size() && IsNameChar(code[end])) ++end;
      tokens.emplace_back(code.substr(i, end - i));
      i = end;
    } else if (c == '"' || c == '\'') {
      // A string literal is one token, spaces inside it included; an unclosed one runs to the end.
      size_t end = i + 1;
      while (end < code.size() && code[end] != c) end += code[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, code.size());
      tokens.emplace_back(code.substr(i, end - i));
      i = end;
    } else {
      // Two-character operators stay whole so "a = = b" does not match "a == b".
      static constexpr std::string_view kPairs[] = {"==", "!=", "<=", ">=", "**", "//", "->", "+=", "-=",
                                                    "*=", "/=", "%=", "<<", ">>", "&=", "|=", "^=", ":="};
      size_t length = 1;
      for (std::string_view pair : kPairs) {
        if (code.substr(i, 2) == pair) length = 2;
      }
      tokens.emplace_back(code.substr(i, length));
      i += length;
    }
  }
  return tokens;
}

double CodeTokensMatch(std::string_view prediction, std::string_view reference) {
  return PythonTokens(prediction) == PythonTokens(reference) ? 1.0 : 0.0;
}

namespace {

constexpr char kInstruction[] =
    "Write a Python function that solves the problem stated in the input. Answer with the code "
    "only: the function definition and any helper it needs, no explanation, no tests, no example "
    "calls. Use the standard library only, keep the function name the problem implies, and "
    "indent with four spaces.";

absl::StatusOr<TaskSplits> Load(const TaskSpec& spec, const JsonlFields& fields) {
  ASSIGN_OR_RETURN(TaskSplits splits, LoadMbppSplits(spec.train_path, fields));
  // A validation or pool file named by the job replaces that split with all of its problems.
  if (!spec.validation_path.empty()) {
    ASSIGN_OR_RETURN(std::vector<Problem> validation, ReadProblems(spec.validation_path, fields));
    splits.validation = ExamplesOf(std::move(validation));
  }
  if (!spec.pool_path.empty()) {
    ASSIGN_OR_RETURN(std::vector<Problem> pool, ReadProblems(spec.pool_path, fields));
    splits.pool = ExamplesOf(std::move(pool));
  }
  if (spec.train_limit > 0 && static_cast<int64_t>(splits.train.size()) > spec.train_limit) {
    splits.train.resize(spec.train_limit);
  }
  if (spec.validation_limit > 0 && static_cast<int64_t>(splits.validation.size()) > spec.validation_limit) {
    splits.validation.resize(spec.validation_limit);
  }
  return splits;
}

const bool kRegistered =
    RegisterBuiltinTemplate({"python", kInstruction, ""}) &&
    RegisterTaskKind({.name = "mbpp",
                      .source = "jsonl",
                      .fields = {"text", "code"},
                      .load = Load,
                      .needs_validation_file = false,
                      .template_name = "python",
                      .metric = {"code_match", CodeTokensMatch}});

}  // namespace
}  // namespace promptintern
