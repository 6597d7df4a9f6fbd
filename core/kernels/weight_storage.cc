#include "core/kernels/weight_storage.h"

#include <ATen/ATen.h>
#include <sys/mman.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

#include "core/util/round_up.h"

namespace promptintern {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kMappingBytes = size_t{64} << 20;
constexpr size_t kTensorAlignment = 64;  // a cache line, as libtorch's own allocator


// One anonymous mapping, 2 MiB aligned, unmapped with its last tensor.
class Mapping {
 public:
  explicit Mapping(size_t bytes) : bytes_(RoundUp(bytes, kHugePageBytes)) {
    // Over-map by one huge page, then trim both ends to a 2 MiB-aligned range.
    const size_t reserved = bytes_ + kHugePageBytes;
    void* memory = mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t start = reinterpret_cast<uintptr_t>(memory);
    const uintptr_t aligned = RoundUp(start, kHugePageBytes);
    if (aligned > start) munmap(memory, aligned - start);
    const uintptr_t end = start + reserved;
    if (end > aligned + bytes_) munmap(reinterpret_cast<void*>(aligned + bytes_), end - aligned - bytes_);
    base_ = reinterpret_cast<char*>(aligned);
    // Advice only: without transparent huge pages the mapping stays in 4 KiB pages.
    madvise(base_, bytes_, MADV_HUGEPAGE);
  }
  ~Mapping() { munmap(base_, bytes_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // The next `bytes` of the mapping, or nullptr when they do not fit.
  char* Take(size_t bytes) {
    if (bytes > bytes_ - used_) return nullptr;
    char* memory = base_ + used_;
    used_ += RoundUp(bytes, kTensorAlignment);
    if (used_ > bytes_) used_ = bytes_;
    return memory;
  }

 private:
  size_t bytes_;
  char* base_ = nullptr;
  size_t used_ = 0;
};

std::mutex arena_mutex;
// The mapping new tensors are carved from; weak, so that it goes when its tensors do.
std::weak_ptr<Mapping> current_mapping;

}  // namespace

at::Tensor AllocateWeightStorage(at::IntArrayRef sizes, at::ScalarType dtype) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer puts no redzones around tensors carved from a mapping: heap tensors keep the
  // kernels' reads bounds-checked in the sanitizer build.
  return at::empty(sizes, at::TensorOptions().dtype(dtype));
#endif
  int64_t elements = 1;
  for (int64_t size : sizes) elements *= size;
  const size_t bytes = std::max<size_t>(1, static_cast<size_t>(elements) * c10::elementSize(dtype));
  std::shared_ptr<Mapping> mapping;
  char* memory = nullptr;
  {
    std::lock_guard<std::mutex> lock(arena_mutex);
    if (bytes >= kMappingBytes / 2) {
      mapping = std::make_shared<Mapping>(bytes);  // its own mapping; the shared one stays open
    } else {
      mapping = current_mapping.lock();
      if (mapping == nullptr || (memory = mapping->Take(bytes)) == nullptr) {
        mapping = std::make_shared<Mapping>(kMappingBytes);
        current_mapping = mapping;
      }
    }
    if (memory == nullptr) memory = mapping->Take(bytes);
  }
  return at::from_blob(memory, sizes, [mapping](void*) mutable { mapping.reset(); },
                       at::TensorOptions().dtype(dtype));
}

}  // namespace promptintern
