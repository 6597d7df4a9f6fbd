// Prometheus metrics of the inference service, all named promptintern_*: requests by outcome,
// tokens (served, full-prompt baseline, saved, served from the prefix cache), cost and baseline
// cost, latencies, batching, KV cache blocks and preemptions.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace promptintern {

struct EngineStepStats;

struct RequestRecord {
  std::string model;
  int64_t version = 0;
  std::string mode;
  std::string code;  // gRPC status code name, "OK" on success
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t baseline_input_tokens = 0;
  double cost_usd = 0.0;
  double baseline_cost_usd = 0.0;
  double total_seconds = 0.0;
  double first_token_seconds = -1.0;  // < 0: none produced
  double queue_seconds = -1.0;
  const std::vector<double>* inter_token_seconds = nullptr;
  int64_t cached_input_tokens = 0;  // served from the prefix cache
  int preemptions = 0;
};

class InferenceMetrics {
 public:
  InferenceMetrics();
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  void RecordRequest(const RequestRecord& record);
  // After every engine step (on the engine thread): batch size, queue and KV cache occupancy.
  void RecordStep(const EngineStepStats& step);
  void SetModel(const std::string& name, int64_t version, const std::string& base);
  void CountLoadFailure(const std::string& reference);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* input_tokens_;
  prometheus::Family<prometheus::Counter>* output_tokens_;
  prometheus::Family<prometheus::Counter>* baseline_input_tokens_;
  prometheus::Family<prometheus::Counter>* saved_input_tokens_;
  prometheus::Family<prometheus::Counter>* cost_;
  prometheus::Family<prometheus::Counter>* baseline_cost_;
  prometheus::Family<prometheus::Counter>* load_failures_;
  prometheus::Family<prometheus::Counter>* cached_input_tokens_ = nullptr;
  prometheus::Family<prometheus::Counter>* preemptions_ = nullptr;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Histogram>* first_token_;
  prometheus::Family<prometheus::Histogram>* inter_token_;
  prometheus::Family<prometheus::Histogram>* queue_time_;
  prometheus::Histogram* batch_size_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* kv_blocks_used_ = nullptr;
  prometheus::Gauge* kv_blocks_cached_ = nullptr;
  prometheus::Gauge* kv_blocks_free_ = nullptr;
  prometheus::Family<prometheus::Gauge>* model_info_;
  prometheus::Gauge* serving_ = nullptr;
};

}  // namespace promptintern
