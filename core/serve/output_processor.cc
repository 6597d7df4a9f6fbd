#include "core/serve/output_processor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/model/decoder.h"
#include "core/tokenizer/incremental_detokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

// The longest suffix of `text` that could still grow into a stop string: held back from streaming.
size_t PendingStopPrefix(const std::vector<std::string>& stops, const std::string& text) {
  size_t hold = 0;
  for (const std::string& stop : stops) {
    for (size_t length = std::min(stop.size() - 1, text.size()); length > hold; --length) {
      if (text.compare(text.size() - length, length, stop, 0, length) == 0) {
        hold = length;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

bool CutAtStopString(const std::vector<std::string>& stop_strings, std::string* text) {
  size_t first = std::string::npos;
  for (const std::string& stop : stop_strings) {
    if (!stop.empty()) first = std::min(first, text->find(stop));
  }
  if (first == std::string::npos) return false;
  text->resize(first);
  return true;
}

absl::StatusOr<GenerationOutput> CollectOutput(RequestStream& stream, const OutputOptions& options) {
  if (!options.stop_strings.empty() && options.tokenizer == nullptr) {
    stream.Stop();
    return absl::InvalidArgumentError("stop strings need a tokenizer");
  }
  std::vector<std::string> stops;
  for (const std::string& stop : options.stop_strings) {
    if (!stop.empty()) stops.push_back(stop);
  }
  GenerationOutput output;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  if (options.tokenizer != nullptr) detokenizer = std::make_unique<IncrementalDetokenizer>(*options.tokenizer);
  size_t streamed = 0;  // bytes of output.text already handed to on_text
  bool stopped = false;
  bool abandoned = false;
  // Hands over what is final; with `done`, everything (there is nothing left to grow).
  auto emit = [&](bool done) {
    if (!options.on_text || abandoned) return;
    const size_t hold = done ? 0 : PendingStopPrefix(stops, output.text);
    if (output.text.size() > streamed + hold) {
      if (!options.on_text(output.text.substr(streamed, output.text.size() - hold - streamed))) {
        abandoned = true;
        stream.Stop();
      }
      streamed = output.text.size() - hold;
    }
  };
  std::vector<int> tokens;
  while (stream.Next(&tokens)) {
    for (int token : tokens) {
      if (stopped || abandoned) continue;  // produced before the engine saw the stop
      output.token_ids.push_back(token);
      if (detokenizer == nullptr) continue;
      ASSIGN_OR_RETURN(std::string piece, detokenizer->Add(token));
      output.text += piece;
      if (!stops.empty() && CutAtStopString(stops, &output.text)) {
        stopped = true;
        stream.Stop();
      }
    }
    tokens.clear();
    if (!stopped) emit(/*done=*/false);
  }
  const EngineOutcome& outcome = stream.outcome();
  if (abandoned) return absl::CancelledError("the consumer stopped taking the output");
  if (!outcome.status.ok()) return outcome.status;
  if (detokenizer != nullptr && !stopped) {
    ASSIGN_OR_RETURN(std::string rest, detokenizer->Finish());
    output.text += rest;
    if (!stops.empty() && CutAtStopString(stops, &output.text)) stopped = true;
  }
  output.outcome = outcome;
  if (stopped) output.outcome.finish_reason = FinishReason::kStop;
  emit(/*done=*/true);
  return output;
}

absl::StatusOr<GenerationOutput> Generate(Engine& engine, EngineRequest request, const OutputOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<RequestStream> stream, engine.Submit(std::move(request)));
  return CollectOutput(*stream, options);
}

absl::StatusOr<std::vector<GenerationOutput>> GenerateAll(Engine& engine, const std::vector<EngineRequest>& requests,
                                                          const OutputOptions& options) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].max_new_tokens == 0) {
      streams.push_back(nullptr);
      continue;
    }
    absl::StatusOr<std::shared_ptr<RequestStream>> stream = engine.Submit(requests[i]);
    if (!stream.ok()) {
      for (const auto& submitted : streams) {
        if (submitted != nullptr) submitted->Stop();
      }
      return absl::Status(stream.status().code(), absl::StrCat("request ", i, ": ", stream.status().message()));
    }
    streams.push_back(*std::move(stream));
  }
  std::vector<GenerationOutput> outputs(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    if (streams[i] == nullptr) {
      outputs[i].outcome.prompt_tokens = static_cast<int64_t>(requests[i].prompt_ids.size());
      continue;
    }
    ASSIGN_OR_RETURN(outputs[i], CollectOutput(*streams[i], options));
  }
  return outputs;
}

absl::StatusOr<std::vector<GenerationOutput>> GenerateOffline(const DecoderModel& model,
                                                              const std::vector<EngineRequest>& requests,
                                                              const OutputOptions& options) {
  EngineOptions engine_options;
  engine_options.max_batch_size = std::max<int>(1, static_cast<int>(requests.size()));
  engine_options.max_waiting = 0;
  int64_t blocks = 0;
  for (const EngineRequest& request : requests) {
    const int64_t tokens = static_cast<int64_t>(request.prompt_ids.size()) + std::max(0, request.max_new_tokens);
    blocks += (tokens + engine_options.block_size - 1) / engine_options.block_size;
  }
  engine_options.kv_cache_bytes =
      std::max<int64_t>(1, blocks) * engine_options.block_size * KvCacheBytesPerToken(model.config());
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Start(model, engine_options));
  return GenerateAll(*engine, requests, options);
}

}  // namespace promptintern
