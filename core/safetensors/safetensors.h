// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
//   [8-byte little-endian header length N][N bytes of JSON header][data]
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end)} relative to the
// start of the data block, plus an optional "__metadata__" string map.
//
// The reader trusts nothing in the file: every offset, shape and size is checked against the
// others and against the file size before any byte of tensor data is handed out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

enum class DType { kF32, kF16, kBF16 };

absl::string_view DTypeName(DType dtype);  // "F32", "F16", "BF16"
absl::StatusOr<DType> ParseDType(absl::string_view name);
size_t DTypeSize(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;  // relative to the data block
  uint64_t data_end = 0;
  int64_t NumElements() const;
};

// An opened, fully validated safetensors file whose bytes are memory-mapped.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // In file order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* Find(absl::string_view name) const;
  // The raw little-endian bytes of `info`, valid while this file is open.
  const uint8_t* Data(const TensorInfo& info) const;
  // Says that [data, data + size) of the mapping is not needed again soon: its whole pages leave
  // this process's resident memory (the page cache keeps them; reading them again maps them back).
  // A loader calls it after copying a tensor out, so the file does not add to the model's peak.
  void DropFromMemory(const uint8_t* data, uint64_t size) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const uint8_t* data_block_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // NumElements(shape) * DTypeSize(dtype) bytes, little-endian
};

// Serializes tensors (sorted by name, 8-byte aligned header) and writes the file atomically.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata);

// Same, to a byte string (used by the writer and by tests that craft damaged files).
absl::StatusOr<std::string> SerializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                                 const std::map<std::string, std::string>& metadata);

}  // namespace promptintern
