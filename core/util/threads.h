// libtorch starts with one intra-op thread in this build; everything that computes sets it first.
#pragma once

namespace promptintern {

// Sets libtorch's intra-op thread count; 0 means one per core this process may use
// (MachineLimits::cores). Returns the count used.
int SetComputeThreads(int threads);

}  // namespace promptintern
