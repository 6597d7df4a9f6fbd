// The finished cells of an experiment, read back per row: each seed's run report (the row's
// inference mode, stages, budget spent) and per-example scores. What report.cc summarizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/example_scores.h"
#include "core/experiment/experiment.h"
#include "core/experiment/experiment_spec.h"
#include "core/pipeline/pipeline.h"

namespace promptintern {

struct SeedResult {
  uint64_t seed = 0;
  std::string cell_id;
  PipelineReport run;
  ModeReport mode;  // the row's inference mode
  std::vector<ExampleScore> examples;
};

struct RowResult {
  int row = 0;                      // index into ExperimentSpec::rows
  std::vector<SeedResult> seeds;    // finished seeds, in the experiment's seed order
  std::vector<std::string> problems;  // finished cells whose files could not be read, and why
};

// One entry per row of `spec`, in order. Unfinished cells are left out; unreadable ones are listed
// in the row's problems instead of failing the whole report.
std::vector<RowResult> LoadResults(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells);

}  // namespace promptintern
