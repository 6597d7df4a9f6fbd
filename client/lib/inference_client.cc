#include "client/lib/inference_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "client/lib/trainer_client.h"

namespace promptintern {
InferenceClient::InferenceClient(Connection connection)
    : connection_(std::move(connection)), stub_(v1::InferenceService::NewStub(connection_.channel())) {}

absl::StatusOr<v1::GenerateResponse> InferenceClient::Generate(const v1::GenerateRequest& request,
                                                               double timeout_seconds) {
  grpc::ClientContext context;
  connection_.Prepare(&context, std::chrono::duration<double>(timeout_seconds));
  v1::GenerateResponse response;
  if (grpc::Status status = stub_->Generate(&context, request, &response); !status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::GenerateResponse> InferenceClient::GenerateStream(
    const v1::GenerateRequest& request, const std::function<void(const v1::GenerateResponse&)>& on_chunk,
    double timeout_seconds) {
  grpc::ClientContext context;
  connection_.Prepare(&context, std::chrono::duration<double>(timeout_seconds));
  auto reader = stub_->GenerateStream(&context, request);
  v1::GenerateResponse chunk;
  v1::GenerateResponse last;
  while (reader->Read(&chunk)) {
    if (on_chunk) on_chunk(chunk);
    last = chunk;
  }
  if (grpc::Status status = reader->Finish(); !status.ok()) return FromGrpcStatus(status);
  return last;
}

absl::StatusOr<v1::ModelInfo> InferenceClient::GetModel(const std::string& model) {
  grpc::ClientContext context;
  connection_.Prepare(&context, std::chrono::duration<double>(30));
  v1::GetModelRequest request;
  request.set_model(model);
  v1::ModelInfo info;
  if (grpc::Status status = stub_->GetModel(&context, request, &info); !status.ok()) return FromGrpcStatus(status);
  return info;
}

absl::StatusOr<std::vector<v1::ModelInfo>> InferenceClient::ListModels() {
  grpc::ClientContext context;
  connection_.Prepare(&context, std::chrono::duration<double>(30));
  v1::ListServedModelsResponse response;
  if (grpc::Status status = stub_->ListModels(&context, {}, &response); !status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::ModelInfo>(response.models().begin(), response.models().end());
}

}  // namespace promptintern
