#include "core/model/rope.h"

#include <torch/torch.h>

#include <cmath>

namespace promptintern {

at::Tensor RopeInverseFrequencies(int64_t head_dim, double theta, const RopeScaling& scaling) {
  const at::Tensor exponents = at::arange(0, head_dim, 2, at::kDouble) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(theta, exponents);
  switch (scaling.type) {
    case RopeScalingType::kNone:
      return inv_freq;
    case RopeScalingType::kLinear:
      return inv_freq / scaling.factor;
    case RopeScalingType::kLlama3: {
      const double original = static_cast<double>(scaling.original_max_position_embeddings);
      const double low_freq_wavelength = original / scaling.low_freq_factor;
      const double high_freq_wavelength = original / scaling.high_freq_factor;
      const at::Tensor wavelength = 2 * M_PI / inv_freq;
      // Long wavelengths (low frequencies) are slowed down by the factor...
      at::Tensor scaled = at::where(wavelength > low_freq_wavelength, inv_freq / scaling.factor, inv_freq);
      // ...and the band between the two thresholds is interpolated.
      const at::Tensor smooth = (original / wavelength - scaling.low_freq_factor) /
                                (scaling.high_freq_factor - scaling.low_freq_factor);
      const at::Tensor blended = (1 - smooth) * scaled / scaling.factor + smooth * scaled;
      const at::Tensor medium = (wavelength >= high_freq_wavelength).logical_and(wavelength <= low_freq_wavelength);
      return at::where(medium, blended, scaled);
    }
  }
  return inv_freq;
}

RopeTables MakeRopeTables(int64_t head_dim, int64_t positions, double theta, const RopeScaling& scaling) {
  const at::Tensor inv_freq = RopeInverseFrequencies(head_dim, theta, scaling);
  const at::Tensor freqs = at::outer(at::arange(positions, at::kDouble), inv_freq);
  const at::Tensor angles = at::cat({freqs, freqs}, -1);
  return {angles.cos().to(at::kFloat), angles.sin().to(at::kFloat)};
}

}  // namespace promptintern
