// A small C++ client of the inference service; `promptintern generate --server` and
// `promptintern bench` are built on it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/lib/connection.h"
#include "promptintern/v1/inference.grpc.pb.h"

namespace promptintern {

class InferenceClient {
 public:
  explicit InferenceClient(const std::string& address) : InferenceClient(Connection(address)) {}
  explicit InferenceClient(Connection connection);
  absl::StatusOr<v1::GenerateResponse> Generate(const v1::GenerateRequest& request, double timeout_seconds = 60);
  // `on_chunk` sees every streamed message; returns the last one (finish_reason, usage, timings).
  absl::StatusOr<v1::GenerateResponse> GenerateStream(const v1::GenerateRequest& request,
                                                      const std::function<void(const v1::GenerateResponse&)>& on_chunk,
                                                      double timeout_seconds = 60);
  // The served base, or with `model` set one of its adapters.
  absl::StatusOr<v1::ModelInfo> GetModel(const std::string& model = "");
  // The base, then every adapter loaded now.
  absl::StatusOr<std::vector<v1::ModelInfo>> ListModels();

 private:
  Connection connection_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;
};

}  // namespace promptintern
