// gRPC adapter of the inference service over ModelHolder / ServedModel / Engine.
#pragma once

#include "core/serve/output_processor.h"
#include "core/serve/served_model.h"
#include "core/serve/shadow_runner.h"
#include "promptintern/v1/inference.grpc.pb.h"
#include "server/common/transport_security.h"
#include "server/inference/inference_metrics.h"

namespace promptintern {

struct InferenceLimits {
  int default_max_tokens = 64;
  int max_tokens = 1024;
  size_t max_query_bytes = 16 << 10;
  double input_price_per_million = 0.5;
  double output_price_per_million = 1.5;
  // Tokens a streaming client may leave unread before its request is ended.
  int64_t stream_buffer_tokens = 1024;
  // A request's min_confidence when it sets none (0: no fallback unless a request asks).
  double min_confidence = 0.0;
  // Fraction of query-only and compressed requests that set no `shadow` to shadow (core/serve/shadow_runner.h).
  double shadow_rate = 0.0;
  // Shadow jobs queued or running at most; beyond, new ones are dropped and counted.
  int shadow_max_pending = 4;
};

class InferenceServiceImpl final : public v1::InferenceService::Service {
 public:
  // `reference` (may be null) answers the full prompt for confidence fallbacks and shadow
  // comparisons: a registered version of its own (the fine-tune with the full prompt, or the base
  // model) instead of the served model itself. The prompt is the served task's full prompt, encoded
  // by the reference's tokenizer. While it is not loaded, those paths are skipped: a live answer
  // stands, a shadow is counted as dropped.
  InferenceServiceImpl(ModelHolder* holder, ModelHolder* reference, InferenceMetrics* metrics, InferenceLimits limits,
                       const BearerTokenAuthenticator* authenticator);
  grpc::Status Generate(grpc::ServerContext*, const v1::GenerateRequest*, v1::GenerateResponse*) override;
  grpc::Status GenerateStream(grpc::ServerContext*, const v1::GenerateRequest*,
                              grpc::ServerWriter<v1::GenerateResponse>*) override;
  grpc::Status GetModel(grpc::ServerContext*, const v1::GetModelRequest*, v1::ModelInfo*) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListServedModelsRequest*, v1::ListServedModelsResponse*) override;

 private:
  // Validates, renders, runs and accounts one request; `on_text` streams when set (returning false
  // when the client is gone).
  grpc::Status Run(grpc::ServerContext* context, const v1::GenerateRequest& request,
                   const std::function<bool(const std::string&)>& on_text, v1::GenerateResponse* response);

  void Describe(ServedModel& served, const ServedTarget& target, v1::ModelInfo* info) const;
  // The comparison of a live answer with its reference's, into the metrics.
  void RecordShadow(const std::string& model, int64_t version, const TaskMetric* task_metric, const std::string& answer,
                    const GenerationOutput& reference, int64_t reference_input_tokens, bool extra_cost);

  ModelHolder* holder_;
  ModelHolder* reference_;
  InferenceMetrics* metrics_;
  InferenceLimits limits_;
  const BearerTokenAuthenticator* authenticator_;
  ShadowSampler shadow_sampler_;
  // Last: its thread is joined before anything it uses goes away.
  std::unique_ptr<ShadowRunner> shadow_runner_;
};

}  // namespace promptintern
