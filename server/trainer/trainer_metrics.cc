#include "server/trainer/trainer_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "server/common/blas_info_metric.h"

namespace promptintern {

TrainerMetrics::TrainerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      jobs_(&prometheus::BuildGauge().Name("promptintern_trainer_jobs").Help("Jobs by state").Register(*registry_)),
      stage_(&prometheus::BuildGauge()
                  .Name("promptintern_trainer_stage")
                  .Help("Current stage of a running job, 0-based (-1 while pretraining)")
                  .Register(*registry_)),
      progress_(&prometheus::BuildGauge()
                     .Name("promptintern_trainer_progress_ratio")
                     .Help("Optimizer steps done over total steps of a job")
                     .Register(*registry_)),
      loss_(&prometheus::BuildGauge()
                 .Name("promptintern_trainer_training_loss")
                 .Help("Mean training loss per target token over the last progress window")
                 .Register(*registry_)),
      tokens_per_second_(&prometheus::BuildGauge()
                              .Name("promptintern_trainer_training_tokens_per_second")
                              .Help("Training throughput over the last progress window")
                              .Register(*registry_)),
      published_(&prometheus::BuildCounter()
                      .Name("promptintern_trainer_versions_published_total")
                      .Help("Model versions published to the registry")
                      .Register(*registry_)),
      promotions_refused_(&prometheus::BuildCounter()
                               .Name("promptintern_trainer_promotions_refused_total")
                               .Help("Published versions whose promotion gate refused them the alias: the "
                                     "query-only model lost more than max_drop against its reference")
                               .Register(*registry_)) {
  RegisterBlasInfo(*registry_);
}

void TrainerMetrics::Observe(const JobRecord& job, const JobEvent& event) {
  const prometheus::Labels labels = {{"job_id", job.id}, {"name", job.name}};
  const PipelineEvent& p = event.pipeline;
  switch (event.kind) {
    case JobEvent::Kind::kProgress:
      stage_->Add(labels).Set(p.stage);
      if (p.total_steps > 0) progress_->Add(labels).Set(static_cast<double>(p.step) / p.total_steps);
      loss_->Add(labels).Set(p.loss);
      tokens_per_second_->Add(labels).Set(p.tokens_per_second);
      break;
    case JobEvent::Kind::kStageStarted:
      stage_->Add(labels).Set(p.stage);
      break;
    case JobEvent::Kind::kPublished:
      published_->Add({{"name", event.model_name}}).Increment();
      break;
    case JobEvent::Kind::kPromotion: {
      // Created at 0 by the first gate of a model, so a rate over it is defined before a refusal.
      prometheus::Counter& refused = promotions_refused_->Add({{"name", event.model_name}});
      const auto promoted = p.metrics.find("promoted");
      if (promoted != p.metrics.end() && promoted->second == 0.0) refused.Increment();
      break;
    }
    default:
      break;
  }
}

void TrainerMetrics::SetJobCounts(const std::map<JobState, int>& counts) {
  for (const auto& [state, count] : counts) jobs_->Add({{"state", std::string(JobStateName(state))}}).Set(count);
}

}  // namespace promptintern
