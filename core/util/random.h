// SplitMix64 (Steele, Lea and Flood 2014; Vigna's reference code): the one random generator of
// core/. Tiny, fast and specified bit for bit, unlike std:: distributions, whose output differs
// between standard libraries: what makes a data set, a sample or a bootstrap identical across
// compilers and machines for the same seed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace promptintern {

// The generator's output function on its own: a well-mixed 64-bit hash of x (every input bit
// affects every output bit). SplitMix64(s).Next() == SplitMix64Hash(s).
inline uint64_t SplitMix64Hash(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    const uint64_t value = SplitMix64Hash(state_);
    state_ += 0x9E3779B97F4A7C15ULL;
    return value;
  }

  // Uniform in [0, bound) by rejection, so there is no modulo bias. bound must be > 0.
  uint64_t UniformBelow(uint64_t bound) {
    // Values below 2^64 mod bound would make the low residues more likely; skip them.
    const uint64_t threshold = (0 - bound) % bound;
    while (true) {
      const uint64_t x = Next();
      if (x >= threshold) return x % bound;
    }
  }

  // Next() % n: biased by under n / 2^64 (below 1e-15 for the small ranges it is used with), one
  // draw per call. The synthetic data set is defined by this stream, so it stays as it is.
  size_t ModuloBelow(size_t n) { return static_cast<size_t>(Next() % n); }
  int ModuloBetween(int low, int high) { return low + static_cast<int>(ModuloBelow(high - low + 1)); }
  bool ModuloPercent(int percent) { return ModuloBelow(100) < static_cast<size_t>(percent); }
  template <typename T, size_t N>
  const T& ModuloPick(const T (&items)[N]) {
    return items[ModuloBelow(N)];
  }

 private:
  uint64_t state_;
};

}  // namespace promptintern
