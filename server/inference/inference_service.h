// gRPC adapter of the inference service over ModelHolder / ServedModel / Engine.
#pragma once

#include "core/serve/served_model.h"
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
};

class InferenceServiceImpl final : public v1::InferenceService::Service {
 public:
  InferenceServiceImpl(ModelHolder* holder, InferenceMetrics* metrics, InferenceLimits limits,
                       const BearerTokenAuthenticator* authenticator)
      : holder_(holder), metrics_(metrics), limits_(limits), authenticator_(authenticator) {}
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

  ModelHolder* holder_;
  InferenceMetrics* metrics_;
  InferenceLimits limits_;
  const BearerTokenAuthenticator* authenticator_;
};

}  // namespace promptintern
