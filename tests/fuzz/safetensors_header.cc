// Fuzz target: the safetensors reader (core/safetensors), which opens a file: the input becomes
// an in-memory file (memfd) opened through /proc/self/fd. Checked beyond "no crash": the tensors
// it accepts tile the data block exactly, in order, each range matching dtype x shape, and the
// last byte of each can be read.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("safetensors", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  auto file = promptintern::SafetensorsFile::Open("/proc/self/fd/" + std::to_string(fd));
  if (file.ok()) {
    uint64_t header_length = 0;
    if (size < 8) std::abort();
    std::memcpy(&header_length, data, 8);  // little-endian on every host we build for
    const uint64_t data_block = size - 8 - header_length;
    uint64_t previous_end = 0;
    for (const promptintern::TensorInfo& tensor : (*file)->tensors()) {
      const uint64_t bytes = static_cast<uint64_t>(tensor.NumElements()) * promptintern::DTypeSize(tensor.dtype);
      if (tensor.data_begin > tensor.data_end || tensor.data_end > data_block ||
          tensor.data_end - tensor.data_begin != bytes || tensor.data_begin != previous_end) {
        std::abort();
      }
      previous_end = tensor.data_end;
      if (bytes > 0) {
        volatile uint8_t touch = (*file)->Data(tensor)[bytes - 1];
        (void)touch;
      }
      if ((*file)->Find(tensor.name) == nullptr) std::abort();
    }
    if (previous_end != data_block) std::abort();
  }
  close(fd);
  return 0;
}
