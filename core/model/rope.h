// Rotary position embedding tables (Su et al., 2021) in the Hugging Face rotate-half layout:
// cos/sin [positions, head_dim], the frequencies repeated over both halves of a head. Frequency
// scaling follows transformers' rope_init functions: "linear" divides every frequency by the
// factor; "llama3" leaves high frequencies alone, divides low ones by the factor and blends the
// band between (wavelengths between original_context / high_freq_factor and / low_freq_factor).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/model/config.h"

namespace promptintern {

struct RopeTables {
  at::Tensor cos;  // [positions, head_dim] float32
  at::Tensor sin;
};

// The inverse frequencies [head_dim / 2] in float64, scaled as `scaling` says.
at::Tensor RopeInverseFrequencies(int64_t head_dim, double theta, const RopeScaling& scaling);

// Tables computed in float64 and rounded once, so positions far from 0 stay accurate.
RopeTables MakeRopeTables(int64_t head_dim, int64_t positions, double theta, const RopeScaling& scaling);

}  // namespace promptintern
