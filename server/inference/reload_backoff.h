// How the inference service treats a reference that keeps failing to load (a corrupted version
// the alias points at, a registry that cannot be read): the same version is loaded again only
// after a growing interval (poll, 2 x poll, ... up to max_interval), since each attempt re-reads
// and re-hashes the whole checkpoint; a different version is tried at the next poll; a reference
// that does not resolve is cheap to retry and is retried every poll. The error is logged when it
// changes, and a repeat at most once per log_interval, with the number of failed attempts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace promptintern {

class ReloadBackoff {
 public:
  ReloadBackoff(absl::Duration poll, absl::Duration max_interval, absl::Duration log_interval);

  // Whether to load now; `version` is what the reference resolves to now (nullopt: it does not).
  bool ShouldTry(std::optional<int64_t> version, absl::Time now) const;
  // Records a failed attempt at `version`; returns the line to log, "" for a repeat to keep quiet.
  std::string Failed(std::optional<int64_t> version, const absl::Status& error, absl::Time now);
  // Records a successful attempt (swapped or already serving): the next failure is news again.
  void Succeeded();

 private:
  const absl::Duration poll_;
  const absl::Duration max_interval_;
  const absl::Duration log_interval_;

  std::optional<int64_t> failed_version_;
  bool failing_ = false;
  absl::Duration interval_;
  absl::Time next_try_;
  std::string error_;
  int64_t attempts_ = 0;  // failed attempts with error_
  absl::Time first_failure_;
  absl::Time next_log_;
};

}  // namespace promptintern
