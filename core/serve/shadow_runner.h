// Shadow work: a sample of live requests answered again by a reference path (the full prompt) off
// their critical path, so that what the internalized model's answers lose against the full prompt
// is measured on today's traffic rather than on a validation set.
//
// Live traffic never waits for it: the jobs run on their own thread, as background engine requests
// (they yield their batch slot and KV blocks to live ones and take no live queue place; see
// scheduler.h), and the backlog is bounded. When max_pending jobs are queued or running, the engine
// is not keeping up, and a new job is dropped rather than queued (the caller counts it).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/serve/engine.h"
#include "core/serve/output_processor.h"

namespace promptintern {

// Picks which requests are shadowed, deterministically: every request while the running sum of
// `rate` crosses a whole number, so rate 0.05 shadows every 20th request and 1 every request.
class ShadowSampler {
 public:
  // `rate` in [0, 1].
  explicit ShadowSampler(double rate) : rate_(rate) {}
  bool Next();

 private:
  const double rate_;
  absl::Mutex mu_;
  double credit_ ABSL_GUARDED_BY(mu_) = 0.0;
};

struct TaskMetric;

struct ShadowJob {
  // Keeps the engine (and whatever the request refers to: tokenizer, adapter) alive while the job
  // waits or runs, even after the service has swapped to another version.
  std::shared_ptr<void> keep_alive;
  Engine* engine = nullptr;
  EngineRequest request;  // the reference's; the runner makes it a background request
  OutputOptions output;   // tokenizer and stop strings (no on_text)
  // Handed to `on_done` with the reference's answer: the live answer and its labels.
  std::string answer;
  std::string model;
  int64_t version = 0;
  const TaskMetric* task_metric = nullptr;  // the served task's own metric (core/task/task_kind.h)
};

class ShadowRunner {
 public:
  using Done = std::function<void(const ShadowJob& job, const absl::StatusOr<GenerationOutput>& reference)>;
  // `on_done` runs on the runner's thread after each job.
  ShadowRunner(int max_pending, Done on_done);
  // Drops the queued jobs and waits for the running one.
  ~ShadowRunner();

  // Queues `job`; false (and nothing queued) when max_pending jobs are already queued or running.
  bool Offer(ShadowJob job);

 private:
  void Loop();

  const int max_pending_;
  const Done on_done_;
  absl::Mutex mu_;
  std::deque<ShadowJob> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace promptintern
