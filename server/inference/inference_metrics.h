// Prometheus metrics of the inference service, all named promptintern_*: requests by outcome,
// tokens (served, full-prompt baseline, saved, served from the prefix cache), cost and baseline
// cost, confidence fallbacks and the savings net of them, shadow comparisons, latencies, batching, KV cache blocks and
// preemptions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/eval/answer_quality.h"

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
  // A confidence fallback answered again with the full prompt, at this cost.
  bool fallback = false;
  int64_t fallback_input_tokens = 0;
  int64_t fallback_output_tokens = 0;
  double fallback_cost_usd = 0.0;

  // Savings net of the fallback's spending; negative when it spent more than the full prompt alone.
  int64_t net_saved_input_tokens() const { return baseline_input_tokens - input_tokens - fallback_input_tokens; }
  double net_saved_cost_usd() const { return baseline_cost_usd - cost_usd - fallback_cost_usd; }
};

// One shadow comparison: the live answer against the reference's for the same query.
struct ShadowRecord {
  std::string model;
  int64_t version = 0;
  AnswerAgreement agreement;
  double cost_usd = 0.0;  // what answering with the reference cost beyond the live request
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
  void RecordShadow(const ShadowRecord& record);
  // Shadow work not done: the backlog was full (the service busy), or the engine refused it.
  void CountShadowDropped(const std::string& model, int64_t version);

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
  prometheus::Family<prometheus::Counter>* fallbacks_ = nullptr;
  prometheus::Family<prometheus::Counter>* fallback_input_tokens_ = nullptr;
  prometheus::Family<prometheus::Counter>* fallback_cost_ = nullptr;
  prometheus::Family<prometheus::Gauge>* net_saved_input_tokens_ = nullptr;
  prometheus::Family<prometheus::Gauge>* net_saved_cost_ = nullptr;
  prometheus::Family<prometheus::Counter>* shadow_requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* shadow_agreement_ = nullptr;
  prometheus::Family<prometheus::Counter>* shadow_cost_ = nullptr;
  prometheus::Family<prometheus::Counter>* shadow_dropped_ = nullptr;
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
