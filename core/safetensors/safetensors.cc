#include "core/safetensors/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

// Bounds a header so a lying length field cannot make us allocate or parse gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100 * 1024 * 1024;
constexpr int kMaxRank = 8;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status HeaderError(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("safetensors file ", path, ": ", what));
}

absl::StatusOr<TensorInfo> ParseTensorEntry(const std::string& path, const std::string& name,
                                            const json& entry, uint64_t data_size) {
  auto error = [&](absl::string_view what) {
    return HeaderError(path, absl::StrCat("tensor '", name, "': ", what));
  };
  if (!entry.is_object()) return error("entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) return error(absl::StrCat("missing \"", key, "\""));
  }
  TensorInfo info;
  info.name = name;
  if (!entry["dtype"].is_string()) return error("dtype is not a string");
  const std::string dtype_name = entry["dtype"].get<std::string>();
  auto dtype = ParseDType(dtype_name);
  if (!dtype.ok()) return error(absl::StrCat("unsupported dtype \"", dtype_name, "\" (supported: F32, F16, BF16)"));
  info.dtype = *dtype;

  const json& shape = entry["shape"];
  if (!shape.is_array() || shape.size() > kMaxRank) return error("shape is not an array of at most 8 dimensions");
  uint64_t elements = 1;
  for (const json& dim : shape) {
    if (!dim.is_number_unsigned() && !(dim.is_number_integer() && dim.get<int64_t>() >= 0)) {
      return error("shape has a dimension that is not a non-negative integer");
    }
    const uint64_t size = dim.get<uint64_t>();
    if (size != 0 && elements > std::numeric_limits<uint64_t>::max() / size) return error("shape overflows");
    elements *= size;
    info.shape.push_back(static_cast<int64_t>(size));
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return error("data_offsets is not a pair of non-negative integers");
  }
  info.data_begin = offsets[0].get<uint64_t>();
  info.data_end = offsets[1].get<uint64_t>();
  if (info.data_end < info.data_begin) return error("data_offsets end before they begin");
  if (info.data_end > data_size) {
    return error(absl::StrCat("data_offsets [", info.data_begin, ", ", info.data_end,
                              ") run past the end of the data (", data_size, " bytes): file truncated?"));
  }
  const uint64_t item = DTypeSize(info.dtype);
  if (elements > std::numeric_limits<uint64_t>::max() / item ||
      elements * item != info.data_end - info.data_begin) {
    return error(absl::StrCat("shape ", ShapeString(info.shape), " of ", dtype_name, " needs ",
                              elements * item, " bytes but data_offsets span ",
                              info.data_end - info.data_begin));
  }
  return info;
}

}  // namespace

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  return absl::InvalidArgumentError(absl::StrCat("unsupported dtype \"", name, "\""));
}

size_t DTypeSize(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

int64_t TensorInfo::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("safetensors file not found: ", path));
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  const uint64_t file_size = static_cast<uint64_t>(info.st_size);
  if (file_size < 8) {
    ::close(fd);
    return HeaderError(path, absl::StrCat("file is ", file_size, " bytes, shorter than the 8-byte header length"));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->mapping_ = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (file->mapping_ == MAP_FAILED) {
    file->mapping_ = nullptr;
    return absl::InternalError(absl::StrCat("cannot map ", path, ": ", std::strerror(errno)));
  }
  file->mapping_size_ = file_size;
  const auto* bytes = static_cast<const uint8_t*>(file->mapping_);

  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > kMaxHeaderBytes) {
    return HeaderError(path, absl::StrCat("header length ", header_size, " exceeds the ", kMaxHeaderBytes, "-byte limit"));
  }
  if (header_size > file_size - 8) {
    return HeaderError(path, absl::StrCat("header length ", header_size, " runs past the end of the ",
                                          file_size, "-byte file: file truncated?"));
  }
  const uint64_t data_size = file_size - 8 - header_size;
  file->data_block_ = bytes + 8 + header_size;

  json header = json::parse(bytes + 8, bytes + 8 + header_size, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return HeaderError(path, "header is not valid JSON");
  if (!header.is_object()) return HeaderError(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) return HeaderError(path, "__metadata__ is not an object");
      for (auto meta = it.value().begin(); meta != it.value().end(); ++meta) {
        if (!meta.value().is_string()) {
          return HeaderError(path, absl::StrCat("__metadata__ value for '", meta.key(), "' is not a string"));
        }
        file->metadata_[meta.key()] = meta.value().get<std::string>();
      }
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo tensor, ParseTensorEntry(path, it.key(), it.value(), data_size));
    file->tensors_.push_back(std::move(tensor));
  }

  std::sort(file->tensors_.begin(), file->tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.data_begin != b.data_begin ? a.data_begin < b.data_begin : a.data_end < b.data_end;
  });
  // Like the reference reader, require the tensors to tile the data block exactly: a gap, an
  // overlap or trailing bytes all mean the header does not describe this file.
  uint64_t expected_begin = 0;
  for (const TensorInfo& tensor : file->tensors_) {
    if (tensor.data_begin != expected_begin) {
      return HeaderError(path, absl::StrCat("tensor '", tensor.name, "' starts at byte ", tensor.data_begin,
                                            " of the data block but the previous tensor ends at ",
                                            expected_begin, " (overlapping or lying data_offsets)"));
    }
    expected_begin = tensor.data_end;
  }
  if (expected_begin != data_size) {
    return HeaderError(path, absl::StrCat("tensors cover ", expected_begin, " bytes but the data block has ",
                                          data_size, " (header and file size disagree)"));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  for (const TensorInfo& info : tensors_) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const uint8_t* SafetensorsFile::Data(const TensorInfo& info) const { return data_block_ + info.data_begin; }

void SafetensorsFile::DropFromMemory(const uint8_t* data, uint64_t size) const {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto* mapping = static_cast<const uint8_t*>(mapping_);
  if (data < mapping || size == 0) return;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = std::min(begin + size, reinterpret_cast<uintptr_t>(mapping) + mapping_size_);
  // Only the pages wholly inside the range: a neighbour's bytes stay where they are.
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = end / page * page;
  // Advice only: a failure leaves the pages resident, which is merely what it was before.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

absl::StatusOr<std::string> SerializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                                 const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> ordered;
  for (const TensorToWrite& tensor : tensors) ordered.push_back(&tensor);
  std::sort(ordered.begin(), ordered.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < ordered.size(); ++i) {
    const TensorToWrite& tensor = *ordered[i];
    if (tensor.name.empty() || tensor.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name '", tensor.name, "'"));
    }
    if (i > 0 && ordered[i - 1]->name == tensor.name) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name '", tensor.name, "'"));
    }
    uint64_t elements = 1;
    for (int64_t d : tensor.shape) {
      if (d < 0) return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has a negative dimension"));
      elements *= static_cast<uint64_t>(d);
    }
    const uint64_t bytes = elements * DTypeSize(tensor.dtype);
    header[tensor.name] = {{"dtype", std::string(DTypeName(tensor.dtype))},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data block starts 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  uint64_t header_size = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_size >> (8 * i)) & 0xff));
  out += header_text;
  for (const TensorToWrite* tensor : ordered) {
    int64_t elements = 1;
    for (int64_t d : tensor->shape) elements *= d;
    out.append(static_cast<const char*>(tensor->data), elements * DTypeSize(tensor->dtype));
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeSafetensors(tensors, metadata));
  return WriteFileAtomic(path, bytes);
}

}  // namespace promptintern
