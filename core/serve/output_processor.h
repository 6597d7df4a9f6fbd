// The consumer side of a request: takes its tokens from the engine's RequestStream on the
// caller's thread, detokenizes them incrementally, cuts at stop strings (asking the engine to stop
// the request), and hands text deltas to a callback as they become final. Text held back because
// it could still grow into a stop string is never streamed, so a client never sees text that the
// stop string later removes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/serve/engine.h"

namespace promptintern {

class DecoderModel;
class Tokenizer;

struct GenerationOutput {
  std::vector<int> token_ids;  // generated, without EOS and without tokens after a stop string
  std::string text;            // cut before the stop string
  EngineOutcome outcome;       // finish reason, prompt/cache counts, timings
};

// Cuts `text` before the earliest occurrence of any (non-empty) stop string; true when one occurs.
bool CutAtStopString(const std::vector<std::string>& stop_strings, std::string* text);

struct OutputOptions {
  // May be null when there are no stop strings and no text is wanted (ids in, ids out).
  const Tokenizer* tokenizer = nullptr;
  std::vector<std::string> stop_strings;
  // Each newly final piece of text; returning false abandons the request (the engine is told to
  // stop and the result is CANCELLED).
  std::function<bool(const std::string& delta)> on_text;
};

// Drains `stream` until the request ends. The engine's error (cancelled, deadline, ...) is
// returned as the status.
absl::StatusOr<GenerationOutput> CollectOutput(RequestStream& stream, const OutputOptions& options);

// Submit + CollectOutput: one request, blocking until it ends.
absl::StatusOr<GenerationOutput> Generate(Engine& engine, EngineRequest request, const OutputOptions& options);

// Submits every request to `engine` and collects each: the offline path. A request with
// max_new_tokens 0 is answered with nothing without reaching the engine.
absl::StatusOr<std::vector<GenerationOutput>> GenerateAll(Engine& engine, const std::vector<EngineRequest>& requests,
                                                          const OutputOptions& options);

// GenerateAll on an engine started for these requests alone (all batched together, the KV pool
// sized to hold them): for the CLI and tests.
absl::StatusOr<std::vector<GenerationOutput>> GenerateOffline(const DecoderModel& model,
                                                              const std::vector<EngineRequest>& requests,
                                                              const OutputOptions& options);

}  // namespace promptintern
