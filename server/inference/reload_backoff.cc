#include "server/inference/reload_backoff.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace promptintern {

ReloadBackoff::ReloadBackoff(absl::Duration poll, absl::Duration max_interval, absl::Duration log_interval)
    : poll_(poll), max_interval_(std::max(poll, max_interval)), log_interval_(log_interval), interval_(poll) {}

bool ReloadBackoff::ShouldTry(std::optional<int64_t> version, absl::Time now) const {
  if (!failing_ || !version.has_value() || version != failed_version_) return true;
  return now >= next_try_;
}

std::string ReloadBackoff::Failed(std::optional<int64_t> version, const absl::Status& error, absl::Time now) {
  if (failing_ && version.has_value() && version == failed_version_) {
    interval_ = std::min(interval_ * 2, max_interval_);
  } else {
    interval_ = poll_;
  }
  failing_ = true;
  failed_version_ = version;
  next_try_ = now + interval_;

  const std::string message(error.message());
  if (attempts_ > 0 && message == error_) {
    ++attempts_;
    if (now < next_log_) return "";
    next_log_ = now + log_interval_;
    return absl::StrCat(message, " (still failing: ", attempts_, " failed attempts since ",
                        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", first_failure_, absl::UTCTimeZone()),
                        "; next attempt in ", absl::FormatDuration(interval_), ")");
  }
  error_ = message;
  attempts_ = 1;
  first_failure_ = now;
  next_log_ = now + log_interval_;
  return message;
}

void ReloadBackoff::Succeeded() {
  failing_ = false;
  failed_version_.reset();
  interval_ = poll_;
  attempts_ = 0;
  error_.clear();
}

}  // namespace promptintern
