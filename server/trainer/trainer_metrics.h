// Prometheus metrics of the trainer: jobs by state, stage progress, training loss, training
// tokens/s, versions published, versions their promotion gate refused.
#pragma once

#include <memory>

#include "core/jobs/job_manager.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Gauge;
class Counter;
}  // namespace prometheus

namespace promptintern {

class TrainerMetrics {
 public:
  TrainerMetrics();
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  // The JobManager observer: updates the per-job gauges and counters from each event.
  void Observe(const JobRecord& job, const JobEvent& event);
  // Refreshes the jobs-by-state gauge.
  void SetJobCounts(const std::map<JobState, int>& counts);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Family<prometheus::Gauge>* stage_;
  prometheus::Family<prometheus::Gauge>* progress_;
  prometheus::Family<prometheus::Gauge>* loss_;
  prometheus::Family<prometheus::Gauge>* tokens_per_second_;
  prometheus::Family<prometheus::Counter>* published_;
  prometheus::Family<prometheus::Counter>* promotions_refused_;
};

}  // namespace promptintern
