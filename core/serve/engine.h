// The one serving engine: every caller that generates — the inference service, evaluation in the
// pipeline, `promptintern generate` — submits requests here (vLLM's design: one engine, with the
// scheduler, the KV block manager and the model runner as separate parts).
//
//   Submit() -> waiting queue -> Scheduler (token budget per step: decodes first, then chunks of
//   prefills; prefix-cache hits skip their prefill; preemption when the KV pool is full)
//   -> model runner (one paged forward over every scheduled token of every request)
//   -> sampling (each request's own seeded stream) -> the request's RequestStream.
//
// The engine thread only ever computes: it hands token ids to each request's bounded stream and
// never waits on a consumer. Detokenization, stop strings and writing to a client happen on the
// caller's thread (core/serve/output_processor). A consumer that stops taking tokens (a client
// that stopped reading) fills its stream; the request is then ended with RESOURCE_EXHAUSTED and
// its `on_abandoned` hook runs, so one slow client never holds up the batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/generate/sampler.h"
#include "core/serve/kv_block_manager.h"

namespace promptintern {

class DecoderModel;
struct LowRankAdapter;
struct ModelConfig;

// Keys and values of one token across all layers, in bytes (float32).
int64_t KvCacheBytesPerToken(const ModelConfig& config);

enum class FinishReason { kLength, kEos, kStop };
absl::string_view FinishReasonName(FinishReason reason);

struct EngineStepStats {
  int batch_size = 0;       // sequences computed
  int64_t tokens = 0;       // tokens computed
  int running = 0;
  int waiting = 0;
  KvBlockStats kv;
  int64_t preemptions = 0;  // cumulative
};

struct EngineOptions {
  int max_batch_size = 8;          // sequences computed in one step
  int max_waiting = 64;            // queued requests beyond those; more get RESOURCE_EXHAUSTED
  int64_t max_step_tokens = 256;   // tokens per step: the prefill chunk size
  int64_t block_size = 16;         // tokens per KV block
  // KV pool size. 0: room for max_batch_size sequences of the full context.
  int64_t kv_cache_bytes = 0;
  bool prefix_caching = true;
  // Called on the engine thread after every step (for metrics); must not block.
  std::function<void(const EngineStepStats&)> step_observer;
};

struct EngineRequest {
  std::vector<int> prompt_ids;
  int max_new_tokens = 64;
  SamplingParams sampling;
  bool stop_at_eos = true;
  // Null: the base model. Requests of different adapters share a batch; each row goes through
  // its own adapter, and prefix-cache entries are never shared across adapters.
  std::shared_ptr<const LowRankAdapter> adapter;
  absl::Time deadline = absl::InfiniteFuture();
  // Polled between steps; true ends the request with CANCELLED (the client went away).
  std::function<bool()> cancelled;
  // Tokens the stream holds for its consumer; 0 = unbounded (offline callers that read at the end).
  int64_t max_buffered_tokens = 0;
  // Runs on the engine thread when the request is ended because its stream overflowed, e.g. to
  // cancel the RPC so a writer blocked on that client returns. Must not block.
  std::function<void()> on_abandoned;
  // Work nobody waits for (shadow comparison): it yields to every other request (see
  // scheduler.h) and is outside max_waiting, so it never takes a queue place from live traffic.
  // Its submitter bounds how much of it there is.
  bool background = false;
};

struct EngineOutcome {
  absl::Status status;
  FinishReason finish_reason = FinishReason::kLength;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;    // prompt tokens served from the prefix cache
  int64_t computed_prompt_tokens = 0;  // prompt tokens the model computed (again after a preemption)
  int preemptions = 0;
  double queue_seconds = 0.0;        // submitted -> first scheduled
  double prefill_seconds = 0.0;      // first scheduled -> first token
  double first_token_seconds = 0.0;  // submitted -> first token
  double total_seconds = 0.0;
  std::vector<double> inter_token_seconds;
  // The natural-log probability of each sampled token (the EOS that ended it included) under the
  // model's own distribution (softmax of the logits, before temperature or top-k/p): what a
  // caller judges the answer's confidence by.
  std::vector<float> token_logprobs;
};

// One request's tokens as the engine produces them. The engine thread writes; one consumer reads.
class RequestStream {
 public:
  // Waits for new tokens or the end; appends the new ids to `tokens`. False once the request has
  // ended and every token was taken; outcome() is then final.
  bool Next(std::vector<int>* tokens);
  // Ends the request (the consumer matched a stop string): it finishes with kStop at the next step.
  void Stop();
  const EngineOutcome& outcome() const { return outcome_; }

 private:
  friend class Engine;
  // Engine side. Push returns false when the buffer is full.
  bool Push(int token, int64_t capacity);
  void Finish(EngineOutcome outcome);

  absl::Mutex mu_;
  std::deque<int> pending_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  EngineOutcome outcome_;  // written before finished_ is set
  std::atomic<bool> stop_requested_{false};
};

struct EngineStats {
  int running = 0;
  int waiting = 0;
  KvBlockStats kv;
  int64_t preemptions = 0;
  // When the engine last finished a step, or received work while idle: an engine that is busy
  // and has made no progress for long is stuck.
  absl::Time last_progress = absl::InfinitePast();
  bool busy = false;  // has running or waiting requests
};

class Engine {
 public:
  // `model` must outlive the engine.
  static absl::StatusOr<std::unique_ptr<Engine>> Start(const DecoderModel& model, const EngineOptions& options);
  ~Engine();

  // INVALID_ARGUMENT / OUT_OF_RANGE for a request that cannot run (empty, too long for the
  // context or the KV pool, bad sampling), RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE
  // once draining. The stream then reports CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (its
  // consumer stopped reading) or an internal error of the step.
  absl::StatusOr<std::shared_ptr<RequestStream>> Submit(EngineRequest request);

  // Stops accepting requests, lets the admitted and queued ones finish, and stops the thread.
  void Drain();

  EngineStats stats() const;
  const DecoderModel& model() const { return model_; }
  int64_t kv_capacity_tokens() const;

 private:
  struct Impl;
  Engine(const DecoderModel& model, std::unique_ptr<Impl> impl);
  const DecoderModel& model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace promptintern
