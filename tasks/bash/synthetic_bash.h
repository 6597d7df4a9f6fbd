// A synthetic English-to-bash task that needs nothing but this library, so the embedded default
// task runs on a fresh machine with no data set downloaded.
//
// Contract:
//   - Output depends only on the arguments: the generator uses its own splitmix64 stream and
//     never the standard library's distributions (whose output differs between
//     implementations), so the same seed gives the same examples on every platform.
//   - Every answer is one command line (possibly a pipeline) whose first word is a common
//     utility (find, grep, ls, wc, sort, head, tail, du, df, chmod, chown, tar, cp, mv, rm,
//     mkdir, ps, kill, pkill, sed, awk, cut, uniq, xargs, cat, echo, touch, ln, zip, unzip,
//     gzip, diff) and does what the query asks.
//   - A given query text always maps to the same answer.
//   - GenerateSyntheticBash may repeat a query; MakeSyntheticBashTask never does: no query text
//     appears twice within or across its three parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/example.h"

namespace promptintern {

// `count` examples drawn from the synthetic distribution; duplicates are possible.
std::vector<Example> GenerateSyntheticBash(uint64_t seed, size_t count);

struct SyntheticBashSplits {
  std::vector<Example> train;
  std::vector<Example> validation;
  // Few-shot examples for building the long prompt (and for retrieval), kept apart from the
  // evaluation split so a prompt never contains the answer to a validation query.
  std::vector<Example> pool;
};

// Disjoint parts of one seeded stream, deduplicated by query text. The validation split is
// filled first and the pool second, so for a fixed seed the validation set does not change when
// only the train (or pool) size does: runs with different training budgets stay comparable.
// Should the distribution run out of distinct queries (far beyond tens of thousands), the parts
// are returned shorter than asked rather than padded with duplicates.
SyntheticBashSplits MakeSyntheticBashTask(uint64_t seed, size_t train, size_t validation,
                                          size_t pool);

}  // namespace promptintern
