#include "core/serve/shadow_runner.h"

#include <utility>

namespace promptintern {

bool ShadowSampler::Next() {
  if (rate_ <= 0) return false;
  absl::MutexLock lock(&mu_);
  credit_ += rate_;
  if (credit_ < 1.0) return false;
  credit_ -= 1.0;
  return true;
}

ShadowRunner::ShadowRunner(int max_pending, Done on_done)
    : max_pending_(max_pending), on_done_(std::move(on_done)), thread_([this] { Loop(); }) {}

ShadowRunner::~ShadowRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  thread_.join();
}

bool ShadowRunner::Offer(ShadowJob job) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || static_cast<int>(queue_.size()) + running_ >= max_pending_) return false;
  job.request.background = true;
  queue_.push_back(std::move(job));
  return true;
}

void ShadowRunner::Loop() {
  while (true) {
    ShadowJob job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ShadowRunner* runner) ABSL_EXCLUSIVE_LOCKS_REQUIRED(runner->mu_) {
            return runner->stopping_ || !runner->queue_.empty();
          },
          this));
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    const absl::StatusOr<GenerationOutput> reference = Generate(*job.engine, job.request, job.output);
    on_done_(job, reference);
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace promptintern
