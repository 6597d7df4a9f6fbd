#include "core/registry/storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/util/file.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

constexpr char kTemporaryDirectory[] = ".tmp";
constexpr size_t kCopyBufferBytes = 1 << 20;

// Closes the descriptor on every return path.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // close(2) can report a deferred write error, so writers check it.
  absl::Status Close(absl::string_view path) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus("cannot close", path, errno);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

absl::Status FsyncDirectory(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open directory for fsync", path, errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync directory", path, errno);
  return absl::OkStatus();
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view bytes, absl::string_view path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path, errno);
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Streams the file through `sink(chunk)` and hashes it on the way.
template <typename Sink>
absl::StatusOr<ObjectDigest> StreamAndHash(int fd, absl::string_view path, Sink sink) {
  Sha256Hasher hasher;
  ObjectDigest digest;
  std::string buffer(kCopyBufferBytes, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path, errno);
    }
    if (n == 0) break;
    const absl::string_view chunk(buffer.data(), static_cast<size_t>(n));
    RETURN_IF_ERROR(hasher.Update(chunk));
    RETURN_IF_ERROR(sink(chunk));
    digest.size += static_cast<uint64_t>(n);
  }
  ASSIGN_OR_RETURN(digest.sha256, hasher.FinishHex());
  return digest;
}

}  // namespace

absl::StatusOr<std::vector<ObjectDigest>> RegistryStorage::WriteObjectsFromFiles(
    const std::vector<FileUpload>& uploads) {
  std::vector<ObjectDigest> digests;
  digests.reserve(uploads.size());
  for (const FileUpload& upload : uploads) {
    ASSIGN_OR_RETURN(ObjectDigest digest, WriteObjectFromFile(upload.key, upload.local_path));
    digests.push_back(std::move(digest));
  }
  return digests;
}

absl::StatusOr<std::vector<std::string>> RegistryStorage::CollectTemporaries(absl::Duration, bool) {
  return std::vector<std::string>();
}

absl::Status ValidateStorageKey(absl::string_view key, bool allow_prefix) {
  absl::string_view body = key;
  if (allow_prefix) {
    if (key.empty()) return absl::OkStatus();
    if (key.back() != '/') {
      return absl::InvalidArgumentError(absl::StrCat("storage prefix '", key, "' must end with '/'"));
    }
    body.remove_suffix(1);
  }
  if (body.empty()) return absl::InvalidArgumentError("storage key is empty");
  for (const absl::string_view component : absl::StrSplit(body, '/')) {
    if (component.empty() || component == "." || component == ".." || component.front() == '.' ||
        component.find('\0') != absl::string_view::npos || component.find('\\') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid storage key '", key, "': bad path component '", component, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LocalDirectoryStorage>> LocalDirectoryStorage::Open(const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("registry root directory is empty");
  std::string normalized = root;
  while (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();
  RETURN_IF_ERROR(MakeDirectories(JoinPath(normalized, kTemporaryDirectory)));
  return std::unique_ptr<LocalDirectoryStorage>(new LocalDirectoryStorage(std::move(normalized)));
}

std::string LocalDirectoryStorage::PathOf(absl::string_view key) const {
  absl::string_view relative = key;
  if (!relative.empty() && relative.back() == '/') relative.remove_suffix(1);
  return relative.empty() ? root_ : absl::StrCat(root_, "/", relative);
}

std::string LocalDirectoryStorage::NewTemporaryPath() const {
  // pid + per-process counter is unique among live writers; the clock keeps a recycled pid from
  // colliding with a crashed writer's leftovers (and creation uses O_EXCL regardless).
  static std::atomic<uint64_t> counter{0};
  const auto nanos = std::chrono::steady_clock::now().time_since_epoch().count();
  return absl::StrCat(root_, "/", kTemporaryDirectory, "/", ::getpid(), "-", counter.fetch_add(1), "-",
                      static_cast<int64_t>(nanos));
}

absl::Status LocalDirectoryStorage::MakeParentDirectories(absl::string_view key) const {
  std::vector<absl::string_view> components = absl::StrSplit(key, '/');
  components.pop_back();
  std::string path = root_;
  for (const absl::string_view component : components) {
    const std::string parent = path;
    absl::StrAppend(&path, "/", component);
    if (::mkdir(path.c_str(), 0755) == 0) {
      // The new directory entry itself must survive a crash, or so would not what goes in it.
      RETURN_IF_ERROR(FsyncDirectory(parent));
      continue;
    }
    if (errno != EEXIST) return ErrnoStatus("cannot create directory", path, errno);
    struct stat info;
    if (::lstat(path.c_str(), &info) != 0) return ErrnoStatus("cannot stat", path, errno);
    if (!S_ISDIR(info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LocalDirectoryStorage::ReadObject(absl::string_view key) {
  RETURN_IF_ERROR(ValidateStorageKey(key));
  const std::string path = PathOf(key);
  ASSIGN_OR_RETURN(const int raw_fd, OpenRegularFile(path, /*follow_symlinks=*/false));
  FileDescriptor fd(raw_fd);
  std::string content;
  RETURN_IF_ERROR(StreamAndHash(fd.get(), path, [&](absl::string_view chunk) {
                    content.append(chunk.data(), chunk.size());
                    return absl::OkStatus();
                  }).status());
  return content;
}

absl::Status LocalDirectoryStorage::StageForKey(const std::string& temporary, absl::string_view bytes,
                                                absl::string_view key) const {
  FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoStatus("cannot create", temporary, errno);
  RETURN_IF_ERROR(WriteAll(fd.get(), bytes, temporary));
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", temporary, errno);
  RETURN_IF_ERROR(fd.Close(temporary));
  return MakeParentDirectories(key);
}

absl::Status LocalDirectoryStorage::WriteObject(absl::string_view key, absl::string_view bytes) {
  RETURN_IF_ERROR(ValidateStorageKey(key));
  const std::string temporary = NewTemporaryPath();
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(StageForKey(temporary, bytes, key));
    const std::string path = PathOf(key);
    if (::rename(temporary.c_str(), path.c_str()) != 0) return ErrnoStatus("cannot rename into", path, errno);
    return FsyncDirectory(ParentOf(path));
  }();
  if (!status.ok()) ::unlink(temporary.c_str());
  return status;
}

absl::StatusOr<ObjectDigest> LocalDirectoryStorage::WriteObjectFromFile(absl::string_view key,
                                                                        const std::string& local_path) {
  ASSIGN_OR_RETURN(std::vector<ObjectDigest> digests,
                   WriteObjectsFromFiles({FileUpload{std::string(key), local_path}}));
  return std::move(digests.front());
}

absl::StatusOr<std::vector<ObjectDigest>> LocalDirectoryStorage::WriteObjectsFromFiles(
    const std::vector<FileUpload>& uploads) {
  for (const FileUpload& upload : uploads) RETURN_IF_ERROR(ValidateStorageKey(upload.key));
  // Temporary copies not yet renamed into place; removed on every error path.
  std::vector<std::string> temporaries;
  absl::StatusOr<std::vector<ObjectDigest>> digests = [&]() -> absl::StatusOr<std::vector<ObjectDigest>> {
    std::vector<ObjectDigest> written;
    for (const FileUpload& upload : uploads) {
      ASSIGN_OR_RETURN(const int raw_source_fd, OpenRegularFile(upload.local_path, /*follow_symlinks=*/false));
      FileDescriptor source(raw_source_fd);
      temporaries.push_back(NewTemporaryPath());
      const std::string& temporary = temporaries.back();
      FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) return ErrnoStatus("cannot create", temporary, errno);
      ASSIGN_OR_RETURN(ObjectDigest digest,
                       StreamAndHash(source.get(), upload.local_path,
                                     [&](absl::string_view chunk) { return WriteAll(fd.get(), chunk, temporary); }));
      if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", temporary, errno);
      RETURN_IF_ERROR(fd.Close(temporary));
      written.push_back(std::move(digest));
    }
    std::set<std::string> directories;
    for (size_t i = 0; i < uploads.size(); ++i) {
      RETURN_IF_ERROR(MakeParentDirectories(uploads[i].key));
      const std::string path = PathOf(uploads[i].key);
      if (::rename(temporaries[i].c_str(), path.c_str()) != 0) return ErrnoStatus("cannot rename into", path, errno);
      temporaries[i].clear();
      directories.insert(ParentOf(path));
    }
    for (const std::string& directory : directories) RETURN_IF_ERROR(FsyncDirectory(directory));
    return written;
  }();
  for (const std::string& temporary : temporaries) {
    if (!temporary.empty()) ::unlink(temporary.c_str());
  }
  return digests;
}

absl::Status LocalDirectoryStorage::CreateExclusive(absl::string_view key, absl::string_view bytes) {
  RETURN_IF_ERROR(ValidateStorageKey(key));
  // Losers of a race usually find the key already taken; telling them before they write and fsync
  // a temporary file makes contention cheap. link(2) below remains the real arbiter.
  struct stat existing;
  if (::lstat(PathOf(key).c_str(), &existing) == 0) {
    return absl::AlreadyExistsError(absl::StrCat("storage key '", key, "' already exists"));
  }
  const std::string temporary = NewTemporaryPath();
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(StageForKey(temporary, bytes, key));
    const std::string path = PathOf(key);
    // link(2), unlike rename(2), refuses to replace an existing name, and the content is complete
    // before the name appears: exclusive and atomic at once.
    if (::link(temporary.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat("storage key '", key, "' already exists"));
      return ErrnoStatus("cannot link into", path, errno);
    }
    return FsyncDirectory(ParentOf(path));
  }();
  ::unlink(temporary.c_str());
  return status;
}

absl::StatusOr<ObjectDigest> LocalDirectoryStorage::HashObject(absl::string_view key) {
  RETURN_IF_ERROR(ValidateStorageKey(key));
  const std::string path = PathOf(key);
  ASSIGN_OR_RETURN(const int raw_fd, OpenRegularFile(path, /*follow_symlinks=*/false));
  FileDescriptor fd(raw_fd);
  return StreamAndHash(fd.get(), path, [](absl::string_view) { return absl::OkStatus(); });
}

absl::StatusOr<std::vector<std::string>> LocalDirectoryStorage::List(absl::string_view prefix) {
  RETURN_IF_ERROR(ValidateStorageKey(prefix, /*allow_prefix=*/true));
  std::vector<std::string> keys;
  // Depth-first over directories; every non-directory entry is an object key (a stray symlink or
  // FIFO is listed too, so verification reports it instead of overlooking it). Dot entries are
  // the backend's own (.tmp) and cannot be keys.
  std::vector<std::string> pending = {std::string(prefix)};
  while (!pending.empty()) {
    const std::string directory_key = std::move(pending.back());
    pending.pop_back();
    std::error_code error;
    std::filesystem::directory_iterator it(PathOf(directory_key), error);
    if (error) {
      if (error == std::errc::no_such_file_or_directory) continue;
      return absl::InternalError(absl::StrCat("cannot list ", PathOf(directory_key), ": ", error.message()));
    }
    for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name.front() == '.') continue;
      const std::string key = absl::StrCat(directory_key, name);
      std::error_code type_error;
      if (it->symlink_status(type_error).type() == std::filesystem::file_type::directory) {
        pending.push_back(absl::StrCat(key, "/"));
      } else {
        keys.push_back(key);
      }
    }
    if (error) return absl::InternalError(absl::StrCat("cannot list ", PathOf(directory_key), ": ", error.message()));
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::StatusOr<std::vector<std::string>> LocalDirectoryStorage::ListChildren(absl::string_view prefix) {
  RETURN_IF_ERROR(ValidateStorageKey(prefix, /*allow_prefix=*/true));
  std::vector<std::string> names;
  std::error_code error;
  std::filesystem::directory_iterator it(PathOf(prefix), error);
  if (error) {
    if (error == std::errc::no_such_file_or_directory) return names;
    return absl::InternalError(absl::StrCat("cannot list ", PathOf(prefix), ": ", error.message()));
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() != '.') names.push_back(name);
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", PathOf(prefix), ": ", error.message()));
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status LocalDirectoryStorage::Delete(absl::string_view key) {
  RETURN_IF_ERROR(ValidateStorageKey(key));
  const std::string path = PathOf(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("cannot delete", path, errno);
  return absl::OkStatus();
}

absl::Status LocalDirectoryStorage::DeletePrefix(absl::string_view prefix) {
  RETURN_IF_ERROR(ValidateStorageKey(prefix, /*allow_prefix=*/true));
  // An empty prefix would mean the whole registry; no caller has a reason to ask for that.
  if (prefix.empty()) return absl::InvalidArgumentError("refusing to delete the whole storage root");
  std::error_code error;
  std::filesystem::remove_all(PathOf(prefix), error);
  if (error) return absl::InternalError(absl::StrCat("cannot delete ", PathOf(prefix), ": ", error.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LocalDirectoryStorage::CollectTemporaries(absl::Duration min_age,
                                                                                  bool dry_run) {
  const std::string directory = JoinPath(root_, kTemporaryDirectory);
  const absl::Time cutoff = absl::Now() - min_age;
  std::vector<std::string> collected;
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string path = it->path().string();
    struct stat info;
    if (::lstat(path.c_str(), &info) != 0 || S_ISDIR(info.st_mode)) continue;
    if (absl::TimeFromTimespec(info.st_mtim) > cutoff) continue;  // a writer may still be writing it
    if (!dry_run && ::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("cannot delete", path, errno);
    collected.push_back(path);
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", directory, ": ", error.message()));
  std::sort(collected.begin(), collected.end());
  return collected;
}

absl::StatusOr<std::string> LocalDirectoryStorage::LocalPath(absl::string_view key_or_prefix) {
  const bool is_prefix = key_or_prefix.empty() || key_or_prefix.back() == '/';
  RETURN_IF_ERROR(ValidateStorageKey(key_or_prefix, is_prefix));
  const std::string path = PathOf(key_or_prefix);
  if (!PathExists(path)) return absl::NotFoundError(absl::StrCat("storage path not found: ", path));
  return path;
}

}  // namespace promptintern
