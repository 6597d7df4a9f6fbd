// Whole-file I/O with durable, atomic replacement: readers never see a half-written file.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace promptintern {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes to a temporary file beside `path`, fsyncs it, then renames it over `path`
// and fsyncs the directory, so a crash leaves either the old or the new content.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content);

// Creates `path` and its parents if missing.
absl::Status MakeDirectories(const std::string& path);

bool PathExists(const std::string& path);

// Joins two path parts with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

}  // namespace promptintern
