// Template compression without the language model: choosing which template tokens to keep.
//
// Keep count: a keep ratio r in [0, 1] keeps round(r * n) of n tokens, halves rounded up
// (floor(r * n + 0.5)); r = 1 keeps all, r = 0 keeps none, and a small r over a short
// template may round to zero. An r that is NaN or outside [0, 1] is InvalidArgument.
//
// Self-information selection (Selective Context / LLMLingua style): each token carries its
// surprisal -log p(token | prefix). The most predictable tokens carry the least
// information, so the lowest-surprisal tokens are dropped until the keep count is met.
// Ties are resolved by position: among equal scores the earlier token is kept. Kept
// indices are returned ascending, so the surviving tokens keep their order.
//
// Random selection, for ablation, draws the kept set uniformly with a SplitMix64 stream,
// so a seed gives the same selection on every platform and standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

absl::Status ValidateKeepRatio(double keep_ratio);

// round(keep_ratio * n) as described above.
absl::StatusOr<size_t> KeepCount(size_t n, double keep_ratio);

// Indices of the kept tokens, ascending. A NaN score is InvalidArgument (it has no place
// in the ordering); infinities are ordered as usual.
absl::StatusOr<std::vector<size_t>> SelectBySelfInformation(const std::vector<float>& surprisal,
                                                            double keep_ratio);

// KeepCount(n, keep_ratio) indices drawn uniformly without replacement, ascending.
absl::StatusOr<std::vector<size_t>> RandomSelection(size_t n, double keep_ratio, uint64_t seed);

// Shortens a template's token ids to roughly keep_ratio of its length, preserving order.
// Implementations may hold state (a model, a cache), so Compress is not const and an
// instance is not safe to share between threads unless it says so.
class TemplateCompressor {
 public:
  virtual ~TemplateCompressor() = default;
  virtual absl::StatusOr<std::vector<int>> Compress(const std::vector<int>& token_ids,
                                                    double keep_ratio) = 0;
  virtual std::string_view name() const = 0;
};

// "none": the compression ablation. Returns the whole template for every valid ratio,
// 0 included; callers wanting the template gone at r = 0 must drop it themselves.
class NoCompression : public TemplateCompressor {
 public:
  absl::StatusOr<std::vector<int>> Compress(const std::vector<int>& token_ids,
                                            double keep_ratio) override;
  std::string_view name() const override { return "none"; }
};

// "random": keeps a uniformly random subset of KeepCount tokens. Every call restarts from
// the same seed, so one template compresses identically each time it is seen.
class RandomCompression : public TemplateCompressor {
 public:
  explicit RandomCompression(uint64_t seed) : seed_(seed) {}
  absl::StatusOr<std::vector<int>> Compress(const std::vector<int>& token_ids,
                                            double keep_ratio) override;
  std::string_view name() const override { return "random"; }

 private:
  uint64_t seed_;
};

// Per-token surprisal of a token sequence, one score per token, from a language model.
using SurprisalFn = std::function<absl::StatusOr<std::vector<float>>(const std::vector<int>&)>;

// "self_information": drops the lowest-surprisal tokens. The surprisal function is not
// called when the keep count is 0 or the whole template, since the answer is then known.
// A function returning a different number of scores than tokens is an Internal error.
class SelfInformationCompression : public TemplateCompressor {
 public:
  explicit SelfInformationCompression(SurprisalFn surprisal) : surprisal_(std::move(surprisal)) {}
  absl::StatusOr<std::vector<int>> Compress(const std::vector<int>& token_ids,
                                            double keep_ratio) override;
  std::string_view name() const override { return "self_information"; }

 private:
  SurprisalFn surprisal_;
};

}  // namespace promptintern
