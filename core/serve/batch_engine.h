// Continuous batching over one loaded model: concurrent requests decode together, one token per
// step, and new requests join between steps (prefilled into a free cache slot) instead of waiting
// for the batch to finish. Each request samples from its own seeded stream, so its tokens do not
// depend on what else is in the batch.
//
// Cache slots are kept compact: active requests occupy slots [0, n), so a decode step reads a
// view of the cache rather than gathering rows; a finished request's slot is refilled by moving
// the last active row into it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/generate/generator.h"
#include "core/generate/sampler.h"

namespace promptintern {

class DecoderModel;
class Tokenizer;

struct EngineOptions {
  int max_batch_size = 8;  // requests decoding at once
  int max_waiting = 64;    // requests queued beyond those; more get RESOURCE_EXHAUSTED
};

struct EngineRequest {
  std::vector<int> prompt_ids;  // BOS included
  int max_new_tokens = 64;
  SamplingParams sampling;
  std::vector<std::string> stop_strings;
  absl::Time deadline = absl::InfiniteFuture();
  // Polled between steps; true stops the request with CANCELLED (client went away).
  std::function<bool()> cancelled;
  // Streaming: called from the engine thread with each new piece of text.
  std::function<void(const std::string& text_delta)> on_text;
};

struct EngineResult {
  std::vector<int> token_ids;
  std::string text;
  FinishReason finish_reason = FinishReason::kLength;
  double queue_seconds = 0.0;        // submitted -> admitted into the batch
  double prefill_seconds = 0.0;
  double first_token_seconds = 0.0;  // submitted -> first token
  double total_seconds = 0.0;
  std::vector<double> inter_token_seconds;
};

struct EngineStats {
  int running = 0;
  int waiting = 0;
};

class BatchEngine {
 public:
  // `model` and `tokenizer` must outlive the engine.
  static absl::StatusOr<std::unique_ptr<BatchEngine>> Start(const DecoderModel& model, const Tokenizer& tokenizer,
                                                            const EngineOptions& options);
  ~BatchEngine();

  // Blocks until the request finishes. INVALID_ARGUMENT / OUT_OF_RANGE for a request that cannot
  // run, RESOURCE_EXHAUSTED when the queue is full, DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE
  // once draining.
  absl::StatusOr<EngineResult> Generate(EngineRequest request);

  // Stops accepting requests, lets the admitted and queued ones finish, and stops the engine thread.
  void Drain();

  EngineStats stats() const;
  // Called after every decode step with the batch size of that step (for metrics).
  void set_step_observer(std::function<void(int batch_size)> observer);

 private:
  struct Impl;
  explicit BatchEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace promptintern
