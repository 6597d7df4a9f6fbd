#include "core/util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace promptintern {
namespace {

constexpr size_t kReadChunkBytes = size_t{1} << 20;

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return ErrnoStatus("cannot open for fsync", path, errno);
  const int rc = ::fsync(fd);
  const int error_number = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync", path, error_number);
  return absl::OkStatus();
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int error_number) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error_number));
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<int> OpenRegularFile(const std::string& path, bool follow_symlinks) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow_symlinks ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    if (errno == ELOOP && !follow_symlinks) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is a symlink; expected a regular file"));
    }
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("file not found: ", path));
    return ErrnoStatus("cannot open", path, errno);
  }
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error_number = errno;
    ::close(fd);
    return ErrnoStatus("cannot stat", path, error_number);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", FileTypeName(info.st_mode), "; expected a regular file"));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const ReadLimits& limits) {
  absl::StatusOr<int> opened = OpenRegularFile(path, limits.follow_symlinks);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  const auto fail = [fd](absl::Status status) {
    ::close(fd);
    return status;
  };
  const auto too_large = [&](uint64_t size) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, " is ", size, " bytes or more; the limit is ", limits.max_bytes, " bytes"));
  };
  struct stat info;
  if (::fstat(fd, &info) != 0) return fail(ErrnoStatus("cannot stat", path, errno));
  if (static_cast<uint64_t>(info.st_size) > limits.max_bytes) return fail(too_large(info.st_size));
  const absl::Time deadline = limits.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                        : absl::Now() + limits.timeout;
  std::string content;
  content.reserve(static_cast<size_t>(info.st_size));
  std::string chunk(kReadChunkBytes, '\0');
  while (true) {
    if (absl::Now() > deadline) {
      return fail(absl::DeadlineExceededError(absl::StrCat("reading ", path, " took longer than ",
                                                           absl::FormatDuration(limits.timeout))));
    }
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrnoStatus("error reading", path, errno));
    }
    if (n == 0) break;
    if (content.size() + static_cast<size_t>(n) > limits.max_bytes) {
      return fail(too_large(content.size() + static_cast<size_t>(n)));
    }
    content.append(chunk.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return content;
}

absl::Status WriteFileAtomic(const std::string& path, absl::string_view content) {
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", temp, errno);
  const auto fail = [&](absl::string_view what) {
    const absl::Status status = ErrnoStatus(what, temp, errno);
    ::close(fd);
    ::unlink(temp.c_str());
    return status;
  };
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    const absl::Status status = ErrnoStatus("cannot close", temp, errno);
    ::unlink(temp.c_str());
    return status;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const absl::Status status = ErrnoStatus("cannot rename into place", path, errno);
    ::unlink(temp.c_str());
    return status;
  }
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return FsyncPath(parent.empty() ? "." : parent, O_RDONLY | O_DIRECTORY);
}

absl::Status MakeDirectories(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return ErrnoStatus("cannot create directory", path, error.value());
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  const bool a_slash = a.back() == '/';
  const bool b_slash = b.front() == '/';
  if (a_slash && b_slash) return absl::StrCat(a, b.substr(1));
  if (a_slash || b_slash) return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

}  // namespace promptintern
