#include "core/experiment/results.h"

#include "absl/strings/str_cat.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

absl::StatusOr<SeedResult> LoadSeed(const ExperimentCell& cell, const std::string& mode) {
  SeedResult result;
  result.seed = cell.seed;
  result.cell_id = cell.id;
  ASSIGN_OR_RETURN(result.run, ReadPipelineReport(cell.run_dir));
  bool found = false;
  for (const ModeReport& candidate : result.run.modes) {
    if (candidate.mode == mode) {
      result.mode = candidate;
      found = true;
    }
  }
  if (!found) return absl::DataLossError(absl::StrCat(cell.run_dir, ": the report has no mode ", mode));
  const std::string path = JoinPath(cell.run_dir, ExamplesFile(mode));
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  ASSIGN_OR_RETURN(result.examples, ExampleScoresFromJsonl(text, path));
  if (static_cast<int64_t>(result.examples.size()) != result.mode.requests) {
    return absl::DataLossError(absl::StrCat(path, " has ", result.examples.size(), " examples, the report ",
                                            result.mode.requests, " requests"));
  }
  return result;
}

}  // namespace

std::vector<RowResult> LoadResults(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells) {
  std::vector<RowResult> rows(spec.rows.size());
  for (size_t r = 0; r < rows.size(); ++r) rows[r].row = static_cast<int>(r);
  for (const ExperimentCell& cell : cells) {
    if (!CellFinished(cell)) continue;
    for (int r : cell.rows) {
      absl::StatusOr<SeedResult> seed = LoadSeed(cell, spec.rows[r].mode);
      if (seed.ok()) {
        rows[r].seeds.push_back(*std::move(seed));
      } else {
        rows[r].problems.push_back(absl::StrCat("seed ", cell.seed, ": ", seed.status().message()));
      }
    }
  }
  return rows;
}

}  // namespace promptintern
