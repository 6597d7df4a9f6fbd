// Where the model registry keeps its bytes. The registry is written only against RegistryStorage,
// a small object-store-shaped interface (keys, whole-object reads and writes, listing by prefix,
// create-if-absent), so an object-store backend can later serve the same registry.
// LocalDirectoryStorage implements it on a directory of a POSIX filesystem.
//
// Keys are relative, '/'-separated paths ("models/m/versions/3/manifest.json"). Each component is
// non-empty, is not "." or "..", does not start with '.', and contains no NUL or backslash;
// anything else is INVALID_ARGUMENT. Prefixes passed to List / DeletePrefix / LocalPath are ""
// or a key followed by '/'.
//
// Contract every implementation keeps (the registry's correctness rests on it):
//   * Objects appear whole or not at all: a reader never sees a partially written object, and a
//     crash during a write leaves the old object (or none).
//   * A write that returned OK is durable.
//   * CreateExclusive is a compare-and-set: of any number of concurrent calls (threads or
//     processes) for one key, exactly one succeeds; the others get ALREADY_EXISTS.
//   * All methods are safe to call concurrently, from threads and from processes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promptintern {

// Size and SHA-256 of an object's bytes, as stored.
struct ObjectDigest {
  uint64_t size = 0;
  std::string sha256;  // 64 lowercase hex characters.
};

// One local file to store under `key`.
struct FileUpload {
  std::string key;
  std::string local_path;
};

class RegistryStorage {
 public:
  virtual ~RegistryStorage() = default;

  // The whole object; NOT_FOUND if it does not exist.
  virtual absl::StatusOr<std::string> ReadObject(absl::string_view key) = 0;

  // Creates or atomically replaces the object.
  virtual absl::Status WriteObject(absl::string_view key, absl::string_view bytes) = 0;

  // Creates or atomically replaces the object with the contents of the local regular file
  // `local_path` (symlinks are refused), streaming it. Returns the digest of the bytes actually
  // stored, so the caller's checksum describes the stored copy, not a file that might change.
  virtual absl::StatusOr<ObjectDigest> WriteObjectFromFile(absl::string_view key,
                                                           const std::string& local_path) = 0;

  // WriteObjectFromFile for several files; digests in the order of `uploads`. All are durable
  // when it returns OK, which lets a backend batch the syncing (or upload in parallel). On error,
  // any subset of the objects may have been written; the caller cleans up. The default writes
  // them one by one.
  virtual absl::StatusOr<std::vector<ObjectDigest>> WriteObjectsFromFiles(const std::vector<FileUpload>& uploads);

  // Creates the object only if the key does not exist yet: ALREADY_EXISTS otherwise, with the
  // existing object untouched. The compare-and-set primitive of the registry.
  virtual absl::Status CreateExclusive(absl::string_view key, absl::string_view bytes) = 0;

  // Re-reads the object and hashes it (never from cached metadata); NOT_FOUND if missing.
  virtual absl::StatusOr<ObjectDigest> HashObject(absl::string_view key) = 0;

  // Every object key under `prefix` (recursively), sorted. An absent prefix lists nothing.
  virtual absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) = 0;

  // The distinct next path components directly under `prefix` (objects and deeper prefixes
  // alike, like an object store's delimiter listing), sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListChildren(absl::string_view prefix) = 0;

  // Removes one object. Deleting a missing object is OK.
  virtual absl::Status Delete(absl::string_view key) = 0;

  // Removes every object under `prefix`. Missing is OK.
  virtual absl::Status DeletePrefix(absl::string_view prefix) = 0;

  // A local filesystem path holding the object or prefix, for loaders that need files. A remote
  // backend would download into a cache here; this one just names its own file or directory.
  virtual absl::StatusOr<std::string> LocalPath(absl::string_view key_or_prefix) = 0;

  // Deletes the backend's own leftovers of interrupted writes (temporary files, unfinished
  // uploads) older than `min_age` and names them; with `dry_run` only names them. The default
  // backend leaves none.
  virtual absl::StatusOr<std::vector<std::string>> CollectTemporaries(absl::Duration min_age, bool dry_run);
};

// Checks a key (or, with `allow_prefix`, "" or a key ending in '/') against the rules above.
absl::Status ValidateStorageKey(absl::string_view key, bool allow_prefix = false);

// RegistryStorage on a local directory.
//
// Layout: every key is the file at `root`/key. Writes go to a uniquely named temporary file in
// `root`/.tmp (same filesystem, and invisible to keys, which cannot start with '.'), are
// fsynced, then renamed into place (WriteObject*) or hard-linked into place with link(2), which
// fails with EEXIST if the key exists (CreateExclusive); the parent directory is fsynced after
// either, and after creating any directory. A crash can leave only stray files in .tmp, which are
// safe to delete whenever no writer is running (CollectTemporaries deletes those old enough that
// no writer can still be writing them).
class LocalDirectoryStorage : public RegistryStorage {
 public:
  // Creates `root` (and its .tmp) if missing.
  static absl::StatusOr<std::unique_ptr<LocalDirectoryStorage>> Open(const std::string& root);

  const std::string& root() const { return root_; }

  absl::StatusOr<std::string> ReadObject(absl::string_view key) override;
  absl::Status WriteObject(absl::string_view key, absl::string_view bytes) override;
  absl::StatusOr<ObjectDigest> WriteObjectFromFile(absl::string_view key,
                                                   const std::string& local_path) override;
  // Copies and fsyncs every file first, then renames them all into place and fsyncs each
  // destination directory once, instead of once per file.
  absl::StatusOr<std::vector<ObjectDigest>> WriteObjectsFromFiles(const std::vector<FileUpload>& uploads) override;
  absl::Status CreateExclusive(absl::string_view key, absl::string_view bytes) override;
  absl::StatusOr<ObjectDigest> HashObject(absl::string_view key) override;
  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override;
  absl::StatusOr<std::vector<std::string>> ListChildren(absl::string_view prefix) override;
  absl::Status Delete(absl::string_view key) override;
  absl::Status DeletePrefix(absl::string_view prefix) override;
  absl::StatusOr<std::string> LocalPath(absl::string_view key_or_prefix) override;
  // The files in .tmp last modified longer than `min_age` ago.
  absl::StatusOr<std::vector<std::string>> CollectTemporaries(absl::Duration min_age, bool dry_run) override;

 private:
  explicit LocalDirectoryStorage(std::string root) : root_(std::move(root)) {}

  std::string PathOf(absl::string_view key) const;
  // A fresh path in .tmp that no other thread or process will pick.
  std::string NewTemporaryPath() const;
  // Creates the parent directories of `key`, fsyncing each new directory's parent.
  absl::Status MakeParentDirectories(absl::string_view key) const;
  // Writes `bytes` to `temporary` durably (fsynced) and prepares the parents of `key`, so that
  // WriteObject and CreateExclusive differ only in how the name is published.
  absl::Status StageForKey(const std::string& temporary, absl::string_view bytes, absl::string_view key) const;

  std::string root_;
};

}  // namespace promptintern
