// Whole-file I/O with durable, atomic replacement: readers never see a half-written file.
//
// Reading opens regular files only: a FIFO, a device (/dev/zero), a socket or a directory is
// refused before a byte is read, and open(2) itself cannot block on a FIFO (O_NONBLOCK until
// fstat has checked the type). A path from outside the process (a job file names it) is read
// with limits: at most max_bytes, within a deadline, and without following a symlink in its
// last component (the caller resolves the path first, then opens exactly what it checked).
#pragma once

#include <cstddef>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promptintern {

struct ReadLimits {
  // A larger file is RESOURCE_EXHAUSTED (checked against fstat before reading, and while
  // reading, for files whose size the kernel does not know, such as those under /proc).
  size_t max_bytes = std::numeric_limits<size_t>::max();
  // Checked between chunks: DEADLINE_EXCEEDED when reading takes longer (a hung network mount).
  absl::Duration timeout = absl::InfiniteDuration();
  // false: a symlink as the last path component is INVALID_ARGUMENT (O_NOFOLLOW).
  bool follow_symlinks = true;
};

// The whole file. NOT_FOUND when missing, PERMISSION_DENIED when unreadable, INVALID_ARGUMENT
// for anything that is not a regular file; errors name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path, const ReadLimits& limits = {});

// Opens a regular file for reading (blocking reads) and returns its descriptor, which the caller
// closes; the same refusals as ReadFile.
absl::StatusOr<int> OpenRegularFile(const std::string& path, bool follow_symlinks = true);

// Writes to a temporary file beside `path`, fsyncs it, then renames it over `path`
// and fsyncs the directory, so a crash leaves either the old or the new content.
// A full disk is RESOURCE_EXHAUSTED.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content);

// Creates `path` and its parents if missing.
absl::Status MakeDirectories(const std::string& path);

bool PathExists(const std::string& path);

// Joins two path parts with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

// The status for a failed system call on `path` (errno `error_number`): NOT_FOUND, ALREADY_EXISTS,
// PERMISSION_DENIED, RESOURCE_EXHAUSTED (disk full, quota) or INTERNAL, with strerror.
absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int error_number);

}  // namespace promptintern
