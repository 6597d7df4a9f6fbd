// MBPP (Austin et al., 2021): English problem statements to short Python functions. One file holds
// every problem; its task_id says which split a problem belongs to (shared/data/README.md):
// 1-10 prompting (the few-shot pool), 11-510 test, 511-600 validation, 601-974 train. The test
// split is never loaded here.
//
// Contract:
//   - Answers are the reference code with line endings made "\n", trailing spaces and blank lines
//     removed: a blank line would read as the prompt's example separator and end generation.
//   - A line that is not an object with a string "text", a string "code" and an integer task_id
//     fails the load with InvalidArgument naming the file and line.
//   - CodeTokensMatch is the task's exact match: 1 when both answers are the same sequence of
//     Python tokens (names, numbers, string literals, operators), whatever the spacing between
//     them; evaluation has already collapsed whitespace, indentation included.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/task/task_kind.h"

namespace promptintern {

// `path`'s problems, split by task_id; `fields` names the statement and code fields.
absl::StatusOr<TaskSplits> LoadMbppSplits(const std::string& path, const JsonlFields& fields);

// The tokens CodeTokensMatch compares, in order.
std::vector<std::string> PythonTokens(std::string_view code);

double CodeTokensMatch(std::string_view prediction, std::string_view reference);

}  // namespace promptintern
