#include "server/inference/inference_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/serve/engine.h"
#include "server/common/blas_info_metric.h"

namespace promptintern {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *buckets;
}

template <typename Builder>
auto& Register(Builder builder, const char* name, const char* help, prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

InferenceMetrics::InferenceMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(&Register(prometheus::BuildCounter(), "promptintern_requests_total", "Requests by outcome", *registry_)),
      input_tokens_(&Register(prometheus::BuildCounter(), "promptintern_input_tokens_total",
                              "Input tokens sent to the model", *registry_)),
      output_tokens_(&Register(prometheus::BuildCounter(), "promptintern_output_tokens_total",
                               "Tokens generated", *registry_)),
      baseline_input_tokens_(&Register(prometheus::BuildCounter(), "promptintern_baseline_input_tokens_total",
                                       "Input tokens the full prompt would have taken", *registry_)),
      saved_input_tokens_(&Register(prometheus::BuildCounter(), "promptintern_saved_input_tokens_total",
                                    "Baseline input tokens minus input tokens", *registry_)),
      cost_(&Register(prometheus::BuildCounter(), "promptintern_cost_usd_total", "Cost of the requests served",
                      *registry_)),
      baseline_cost_(&Register(prometheus::BuildCounter(), "promptintern_baseline_cost_usd_total",
                               "Cost the requests would have had with the full prompt", *registry_)),
      load_failures_(&Register(prometheus::BuildCounter(), "promptintern_model_load_failures_total",
                               "Versions that failed to load or verify", *registry_)),
      duration_(&Register(prometheus::BuildHistogram(), "promptintern_request_duration_seconds",
                          "Request latency, arrival to last token", *registry_)),
      first_token_(&Register(prometheus::BuildHistogram(), "promptintern_time_to_first_token_seconds",
                             "Arrival to first token", *registry_)),
      inter_token_(&Register(prometheus::BuildHistogram(), "promptintern_inter_token_latency_seconds",
                             "Time between consecutive tokens", *registry_)),
      queue_time_(&Register(prometheus::BuildHistogram(), "promptintern_queue_time_seconds",
                            "Arrival to admission into the batch", *registry_)),
      batch_size_(&Register(prometheus::BuildHistogram(), "promptintern_batch_size", "Requests per decode step",
                            *registry_)
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})),
      running_(&Register(prometheus::BuildGauge(), "promptintern_requests_running", "Requests decoding now",
                         *registry_)
                    .Add({})),
      waiting_(&Register(prometheus::BuildGauge(), "promptintern_requests_waiting", "Requests queued", *registry_)
                    .Add({})),
      model_info_(&Register(prometheus::BuildGauge(), "promptintern_model_info", "The model version in service (1)",
                            *registry_)) {
  cached_input_tokens_ = &Register(prometheus::BuildCounter(), "promptintern_prefix_cache_hit_tokens_total",
                                   "Input tokens whose keys/values came from the prefix cache (not computed)",
                                   *registry_);
  preemptions_ = &Register(prometheus::BuildCounter(), "promptintern_preemptions_total",
                           "Times a request lost its KV cache blocks to others and was recomputed", *registry_);
  fallbacks_ = &Register(prometheus::BuildCounter(), "promptintern_fallbacks_total",
                         "Requests answered again with the full prompt because the first answer's confidence "
                         "was below min_confidence",
                         *registry_);
  fallback_input_tokens_ = &Register(prometheus::BuildCounter(), "promptintern_fallback_input_tokens_total",
                                     "Input tokens the confidence fallbacks sent (full prompts)", *registry_);
  fallback_cost_ = &Register(prometheus::BuildCounter(), "promptintern_fallback_cost_usd_total",
                             "Cost of the confidence fallbacks", *registry_);
  // Gauges, not counters: a fallback spends more than the full prompt alone, so these go down.
  net_saved_input_tokens_ = &Register(prometheus::BuildGauge(), "promptintern_net_saved_input_tokens",
                                      "Input tokens saved against the full prompt, net of confidence fallbacks, "
                                      "since start",
                                      *registry_);
  net_saved_cost_ = &Register(prometheus::BuildGauge(), "promptintern_net_saved_cost_usd",
                              "Cost saved against the full prompt, net of confidence fallbacks, since start",
                              *registry_);
  shadow_requests_ = &Register(prometheus::BuildCounter(), "promptintern_shadow_requests_total",
                               "Live answers compared with the reference's (the full prompt) for the same query",
                               *registry_);
  shadow_agreement_ = &Register(prometheus::BuildHistogram(), "promptintern_shadow_agreement",
                                "Agreement of a live answer with the reference's, in [0, 1], by measure: "
                                "exact_match (0 or 1), edit_similarity (1 - normalised edit distance) and "
                                "the task's own metric by its name (structure for the bash tasks)",
                                *registry_);
  shadow_cost_ = &Register(prometheus::BuildCounter(), "promptintern_shadow_cost_usd_total",
                           "What the shadow answers cost beyond the live requests", *registry_);
  shadow_dropped_ = &Register(prometheus::BuildCounter(), "promptintern_shadow_dropped_total",
                              "Shadow comparisons dropped because the service was busy (the backlog was full)",
                              *registry_);
  auto& kv_blocks = Register(prometheus::BuildGauge(), "promptintern_kv_cache_blocks",
                             "KV cache blocks by state: used (held by requests), cached (a reusable prefix nobody "
                             "holds; evicted when memory is needed), free",
                             *registry_);
  kv_blocks_used_ = &kv_blocks.Add({{"state", "used"}});
  kv_blocks_cached_ = &kv_blocks.Add({{"state", "cached"}});
  kv_blocks_free_ = &kv_blocks.Add({{"state", "free"}});
  RegisterBlasInfo(*registry_);
}

void InferenceMetrics::RecordRequest(const RequestRecord& record) {
  const std::string version = std::to_string(record.version);
  requests_->Add({{"model", record.model}, {"version", version}, {"mode", record.mode}, {"code", record.code}})
      .Increment();
  if (record.code != "OK") return;
  const prometheus::Labels labels = {{"model", record.model}, {"version", version}, {"mode", record.mode}};
  input_tokens_->Add(labels).Increment(static_cast<double>(record.input_tokens));
  output_tokens_->Add(labels).Increment(static_cast<double>(record.output_tokens));
  baseline_input_tokens_->Add(labels).Increment(static_cast<double>(record.baseline_input_tokens));
  saved_input_tokens_->Add(labels).Increment(static_cast<double>(record.baseline_input_tokens - record.input_tokens));
  cost_->Add(labels).Increment(record.cost_usd);
  baseline_cost_->Add(labels).Increment(record.baseline_cost_usd);
  cached_input_tokens_->Add(labels).Increment(static_cast<double>(record.cached_input_tokens));
  preemptions_->Add(labels).Increment(record.preemptions);
  // Created at 0 with the first request of a series, so rates and ratios over them are defined.
  prometheus::Counter& fallbacks = fallbacks_->Add(labels);
  prometheus::Counter& fallback_input_tokens = fallback_input_tokens_->Add(labels);
  prometheus::Counter& fallback_cost = fallback_cost_->Add(labels);
  if (record.fallback) {
    fallbacks.Increment();
    fallback_input_tokens.Increment(static_cast<double>(record.fallback_input_tokens));
    fallback_cost.Increment(record.fallback_cost_usd);
  }
  net_saved_input_tokens_->Add(labels).Increment(static_cast<double>(record.net_saved_input_tokens()));
  net_saved_cost_->Add(labels).Increment(record.net_saved_cost_usd());
  duration_->Add(labels, LatencyBuckets()).Observe(record.total_seconds);
  if (record.first_token_seconds >= 0) first_token_->Add(labels, LatencyBuckets()).Observe(record.first_token_seconds);
  if (record.queue_seconds >= 0) queue_time_->Add(labels, LatencyBuckets()).Observe(record.queue_seconds);
  if (record.inter_token_seconds != nullptr) {
    auto& histogram = inter_token_->Add(labels, LatencyBuckets());
    for (double seconds : *record.inter_token_seconds) histogram.Observe(seconds);
  }
}

void InferenceMetrics::RecordShadow(const ShadowRecord& record) {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                                                                           0.7, 0.8, 0.9, 0.95, 0.99, 1};
  const prometheus::Labels labels = {{"model", record.model}, {"version", std::to_string(record.version)}};
  shadow_requests_->Add(labels).Increment();
  shadow_cost_->Add(labels).Increment(record.cost_usd);
  prometheus::Labels exact = labels;
  exact["measure"] = "exact_match";
  shadow_agreement_->Add(exact, *buckets).Observe(record.agreement.exact_match ? 1.0 : 0.0);
  prometheus::Labels similarity = labels;
  similarity["measure"] = "edit_similarity";
  shadow_agreement_->Add(similarity, *buckets).Observe(record.agreement.edit_similarity);
  if (!record.agreement.task_metric.empty()) {
    prometheus::Labels task = labels;
    task["measure"] = record.agreement.task_metric;
    shadow_agreement_->Add(task, *buckets).Observe(record.agreement.task_score);
  }
  // Created at 0 beside the comparisons, so the share dropped is defined before the first drop.
  shadow_dropped_->Add(labels);
}

void InferenceMetrics::CountShadowDropped(const std::string& model, int64_t version) {
  shadow_dropped_->Add({{"model", model}, {"version", std::to_string(version)}}).Increment();
}

void InferenceMetrics::RecordStep(const EngineStepStats& step) {
  batch_size_->Observe(step.batch_size);
  running_->Set(step.running);
  waiting_->Set(step.waiting);
  kv_blocks_used_->Set(static_cast<double>(step.kv.used_blocks));
  kv_blocks_cached_->Set(static_cast<double>(step.kv.cached_blocks));
  kv_blocks_free_->Set(static_cast<double>(step.kv.free_blocks));
}

void InferenceMetrics::SetModel(const std::string& name, int64_t version, const std::string& base) {
  // Only the version in service is exported, so dashboards show exactly one.
  if (serving_ != nullptr) model_info_->Remove(serving_);
  serving_ = &model_info_->Add({{"model", name}, {"version", std::to_string(version)}, {"base", base}});
  serving_->Set(1);
}

void InferenceMetrics::CountLoadFailure(const std::string& reference) {
  load_failures_->Add({{"reference", reference}}).Increment();
}

}  // namespace promptintern
