// RoundUp(value, multiple): the smallest multiple of `multiple` that is >= value, for the sizes,
// strides and alignments of packed weights and their storage. Contract: value >= 0, multiple > 0,
// and value + multiple - 1 does not overflow T.
#pragma once

namespace promptintern {

template <typename T>
constexpr T RoundUp(T value, T multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace promptintern
