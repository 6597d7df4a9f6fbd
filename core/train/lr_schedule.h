// Learning rate by optimizer step: linear warmup from 0, then cosine decay to min_ratio * peak.
#pragma once

#include <cstdint>

namespace promptintern {

struct LrSchedule {
  double peak = 3e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_ratio = 0.1;

  // `step` counts from 0; past total_steps the rate stays at its minimum.
  double At(int64_t step) const;
};

}  // namespace promptintern
