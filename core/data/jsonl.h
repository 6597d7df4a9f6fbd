// Reading and writing `Example`s as JSON Lines (one JSON object per line).
//
// Contract:
//   - Each non-blank line must be a JSON object holding the query field and the answer field,
//     both strings; other fields are ignored. Blank (whitespace-only) lines are skipped.
//   - Any malformed line fails the whole load with InvalidArgument naming the file, the 1-based
//     line number ("line N") and the problem; a silently dropped record would skew evaluation.
//   - `limit` > 0 stops after that many records; lines after them are not read or validated.
//   - Writing replaces the file atomically (WriteFileAtomic), one object per line, with the
//     query field first.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/example.h"

namespace promptintern {

// Which JSON fields hold the query and the answer.
struct JsonlFields {
  std::string query_field = "query";
  std::string answer_field = "answer";
};

absl::StatusOr<std::vector<Example>> LoadJsonlExamples(const std::string& path,
                                                       const JsonlFields& fields, size_t limit = 0);

absl::Status WriteJsonlExamples(const std::string& path, const std::vector<Example>& examples,
                                const JsonlFields& fields);

}  // namespace promptintern
