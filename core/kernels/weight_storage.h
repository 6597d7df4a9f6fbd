// Memory for the serving kernels' packed weights (packed_weight.h), in 2 MiB pages where the
// kernel gives them.
//
// Why: a decode step streams every packed weight once. In 4 KiB pages that is a TLB miss every
// 4 KiB (30,000 per step of a 110M int8 model), and the page walks, not DRAM, held the int8 kernel
// back: on the Intel Xeon of docs/PERFORMANCE.md, 110M int8 decode batch 1 went from 61-68 to
// 83-85 tokens/s with the weights in 2 MiB pages. Linux's default transparent-huge-page mode
// ("madvise", Debian's) gives 2 MiB pages only to memory marked MADV_HUGEPAGE before it is first
// touched, so the weights need memory of their own rather than the heap's.
//
// Contract: AllocateWeightStorage returns an uninitialized, contiguous CPU tensor, 64-byte aligned,
// carved from a process-wide arena of anonymous mappings (64 MiB each, or the request's size when
// larger), 2 MiB aligned and marked MADV_HUGEPAGE. Small tensors share a mapping, so tensors of
// 1-3 MiB (a 110M model's layers) get whole pages too. A mapping is unmapped when the last tensor
// carved from it is freed; until then its untouched remainder costs address space, not memory.
// Where the kernel refuses huge pages (THP "never"), the same memory is served in 4 KiB pages.
// Under AddressSanitizer the tensors are ordinary heap tensors, so that reads past them are caught.
// Thread-safe. Throws std::bad_alloc when the address space is exhausted (callers run it inside
// CallTorch, which turns it into a status).
#pragma once

#include <ATen/core/Tensor.h>

namespace promptintern {

at::Tensor AllocateWeightStorage(at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace promptintern
