#include "core/serve/engine.h"

#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/model/decoder.h"
#include "core/serve/scheduler.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

int64_t KvCacheBytesPerToken(const ModelConfig& config) {
  return config.num_hidden_layers * 2 * config.num_key_value_heads * config.head_dim() *
         static_cast<int64_t>(sizeof(float));
}

absl::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
  }
  return "unknown";
}

bool RequestStream::Next(std::vector<int>* tokens) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](RequestStream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stream->mu_) {
        return !stream->pending_.empty() || stream->finished_;
      },
      this));
  if (pending_.empty()) return false;
  tokens->insert(tokens->end(), pending_.begin(), pending_.end());
  pending_.clear();
  return true;
}

void RequestStream::Stop() { stop_requested_ = true; }

bool RequestStream::Push(int token, int64_t capacity) {
  absl::MutexLock lock(&mu_);
  if (capacity > 0 && static_cast<int64_t>(pending_.size()) >= capacity) return false;
  pending_.push_back(token);
  return true;
}

void RequestStream::Finish(EngineOutcome outcome) {
  absl::MutexLock lock(&mu_);
  outcome_ = std::move(outcome);
  finished_ = true;
}

struct Engine::Impl {
  struct Work {
    EngineRequest request;
    Sequence sequence;
    Sampler sampler{SamplingParams{}};
    std::shared_ptr<RequestStream> stream;
    EngineOutcome outcome;
    Clock::time_point submitted;
    Clock::time_point first_scheduled;
    Clock::time_point last_token;
    bool scheduled_once = false;
    int generated = 0;
  };

  const DecoderModel* model = nullptr;
  EngineOptions options;
  PagedKvCache cache;
  std::unique_ptr<KvBlockManager> blocks;
  std::unique_ptr<Scheduler> scheduler;
  std::vector<std::unique_ptr<Work>> works;  // engine thread only

  mutable absl::Mutex mu;
  std::deque<std::unique_ptr<Work>> incoming ABSL_GUARDED_BY(mu);
  bool draining ABSL_GUARDED_BY(mu) = false;
  int64_t next_id ABSL_GUARDED_BY(mu) = 1;
  EngineStats stats ABSL_GUARDED_BY(mu);
  // Submitted and not yet completed: the running ones plus the queue; and of those, the background ones.
  std::atomic<int> unfinished{0};
  std::atomic<int> unfinished_background{0};
  std::thread thread;

  // Ends `work` with `status` (OK for a normal end) and forgets it.
  void Complete(Work& work, absl::Status status) {
    scheduler->Remove(&work.sequence);
    work.outcome.status = std::move(status);
    work.outcome.prompt_tokens = work.sequence.prompt_length;
    work.outcome.cached_prompt_tokens = work.sequence.cached_prompt_tokens;
    work.outcome.computed_prompt_tokens = work.sequence.computed_prompt_tokens;
    work.outcome.preemptions = work.sequence.preemptions;
    work.outcome.total_seconds = SecondsBetween(work.submitted, Clock::now());
    work.stream->Finish(std::move(work.outcome));
    --unfinished;
    if (work.request.background) --unfinished_background;
    for (auto it = works.begin(); it != works.end(); ++it) {
      if (it->get() == &work) {
        works.erase(it);
        break;
      }
    }
  }

  // Requests whose consumer asked to stop, whose client went away or whose deadline passed.
  void EndInterrupted() {
    const absl::Time now = absl::Now();
    std::vector<std::pair<Work*, absl::Status>> ended;
    for (const auto& work : works) {
      if (work->stream->stop_requested_) {
        work->outcome.finish_reason = FinishReason::kStop;
        ended.emplace_back(work.get(), absl::OkStatus());
      } else if (work->request.cancelled && work->request.cancelled()) {
        ended.emplace_back(work.get(), absl::CancelledError("the client cancelled the request"));
      } else if (now > work->request.deadline) {
        ended.emplace_back(work.get(), absl::DeadlineExceededError(work->scheduled_once
                                                                       ? "the request's deadline passed during generation"
                                                                       : "the request's deadline passed while it was queued"));
      }
    }
    for (auto& [work, status] : ended) Complete(*work, std::move(status));
  }

  // One paged forward over the step's chunks; logits [chunks that sample, vocab].
  absl::StatusOr<at::Tensor> RunModel(const SchedulerStep& step) {
    PagedBatch batch;
    std::vector<int64_t> sample_rows;
    int64_t row = 0;
    for (const ScheduledChunk& chunk : step.chunks) {
      const Sequence& sequence = *chunk.sequence;
      batch.token_ids.insert(batch.token_ids.end(), sequence.tokens.begin() + sequence.num_computed,
                             sequence.tokens.begin() + sequence.num_computed + chunk.num_tokens);
      batch.sequences.push_back(
          {sequence.num_computed, chunk.num_tokens, sequence.blocks.table, WorkOf(&sequence)->request.adapter.get()});
      row += chunk.num_tokens;
      if (chunk.samples()) sample_rows.push_back(row - 1);
    }
    ASSIGN_OR_RETURN(const at::Tensor hidden, model->ForwardPaged(batch, &cache));
    if (sample_rows.empty()) return at::Tensor();
    ASSIGN_OR_RETURN(const at::Tensor last, CallTorch("gathering the sampled rows", [&] {
                       return hidden.index_select(0, at::tensor(sample_rows, at::kLong));
                     }));
    ASSIGN_OR_RETURN(at::Tensor logits, model->Logits(last));
    return CallTorch("logits", [&] { return logits.contiguous(); });
  }

  // Samples the next token of every chunk that reached its sequence's end and delivers it.
  void Deliver(const SchedulerStep& step, const at::Tensor& logits) {
    const int vocab = static_cast<int>(model->config().vocab_size);
    const int64_t context = model->config().max_position_embeddings;
    const float* data = logits.defined() ? logits.data_ptr<float>() : nullptr;
    int64_t sampled = 0;
    std::vector<std::pair<Work*, absl::Status>> ended;
    for (const ScheduledChunk& chunk : step.chunks) {
      if (chunk.sequence->num_computed != static_cast<int64_t>(chunk.sequence->tokens.size())) continue;
      Work& work = *WorkOf(chunk.sequence);
      const float* row = data + sampled * vocab;
      const int token = work.sampler.Sample(row, vocab);
      ++sampled;
      work.outcome.token_logprobs.push_back(LogProbability(row, vocab, token));
      const auto now = Clock::now();
      EngineOutcome& outcome = work.outcome;
      if (work.generated == 0) {
        outcome.first_token_seconds = SecondsBetween(work.submitted, now);
        outcome.prefill_seconds = SecondsBetween(work.first_scheduled, now);
      } else {
        outcome.inter_token_seconds.push_back(SecondsBetween(work.last_token, now));
      }
      work.last_token = now;
      if (work.request.stop_at_eos && model->config().is_eos(token)) {
        outcome.finish_reason = FinishReason::kEos;
        ended.emplace_back(&work, absl::OkStatus());
        continue;
      }
      work.sequence.tokens.push_back(token);
      ++work.generated;
      if (!work.stream->Push(token, work.request.max_buffered_tokens)) {
        if (work.request.on_abandoned) work.request.on_abandoned();
        ended.emplace_back(&work, absl::ResourceExhaustedError(absl::StrCat(
                                      "the client stopped reading its stream (", work.request.max_buffered_tokens,
                                      " tokens were waiting for it)")));
        continue;
      }
      if (work.generated >= work.request.max_new_tokens ||
          static_cast<int64_t>(work.sequence.tokens.size()) >= context) {
        outcome.finish_reason = FinishReason::kLength;
        ended.emplace_back(&work, absl::OkStatus());
      }
    }
    for (auto& [work, status] : ended) Complete(*work, std::move(status));
  }

  Work* WorkOf(const Sequence* sequence) {
    for (const auto& work : works) {
      if (&work->sequence == sequence) return work.get();
    }
    return nullptr;
  }

  // After every loop iteration; the observer hears of steps that computed something.
  void PublishStats(const SchedulerStep& step) {
    EngineStepStats step_stats;
    step_stats.batch_size = static_cast<int>(step.chunks.size());
    step_stats.tokens = step.num_tokens();
    step_stats.running = static_cast<int>(scheduler->num_running());
    step_stats.waiting = static_cast<int>(scheduler->num_waiting());
    step_stats.kv = blocks->stats();
    step_stats.preemptions = scheduler->total_preemptions();
    {
      absl::MutexLock lock(&mu);
      stats.running = step_stats.running;
      stats.waiting = step_stats.waiting;
      stats.kv = step_stats.kv;
      stats.preemptions = step_stats.preemptions;
      stats.last_progress = absl::Now();
      stats.busy = !works.empty();
    }
    if (options.step_observer && !step.chunks.empty()) options.step_observer(step_stats);
  }

  void FailAll(const absl::Status& status) {
    while (!works.empty()) Complete(*works.back(), status);
  }

  void Step() {
    EndInterrupted();
    if (works.empty()) {
      PublishStats(SchedulerStep());
      return;
    }
    const SchedulerStep step = scheduler->Schedule();
    if (step.chunks.empty()) {
      // Everything waits for KV blocks that only running requests can free; none is running, so
      // this cannot last, but never spin.
      PublishStats(step);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return;
    }
    const auto now = Clock::now();
    for (const ScheduledChunk& chunk : step.chunks) {
      Work& work = *WorkOf(chunk.sequence);
      if (!work.scheduled_once) {
        work.scheduled_once = true;
        work.first_scheduled = now;
        work.outcome.queue_seconds = SecondsBetween(work.submitted, now);
      }
    }
    absl::StatusOr<at::Tensor> logits = RunModel(step);
    if (!logits.ok()) {
      // A failed step fails the requests in it; the engine and everyone else go on.
      std::vector<Work*> failed;
      for (const ScheduledChunk& chunk : step.chunks) failed.push_back(WorkOf(chunk.sequence));
      for (Work* work : failed) Complete(*work, logits.status());
      PublishStats(SchedulerStep());
      return;
    }
    scheduler->Commit(step);
    Deliver(step, *logits);
    PublishStats(step);
  }

  void Loop() {
    c10::InferenceMode inference_mode;
    while (true) {
      {
        absl::MutexLock lock(&mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return !incoming.empty() || !works.empty() || draining;
        };
        mu.Await(absl::Condition(&ready));
        if (draining && incoming.empty() && works.empty()) return;
        while (!incoming.empty()) {
          scheduler->Add(&incoming.front()->sequence);
          works.push_back(std::move(incoming.front()));
          incoming.pop_front();
        }
      }
      try {
        Step();
      } catch (const std::exception& e) {
        FailAll(absl::InternalError(absl::StrCat("engine step failed: ", e.what())));
      } catch (...) {
        FailAll(absl::InternalError("engine step failed"));
      }
    }
  }

};

Engine::Engine(const DecoderModel& model, std::unique_ptr<Impl> impl) : model_(model), impl_(std::move(impl)) {}

Engine::~Engine() { Drain(); }

absl::StatusOr<std::unique_ptr<Engine>> Engine::Start(const DecoderModel& model, const EngineOptions& options) {
  if (options.max_batch_size < 1) return absl::InvalidArgumentError("max_batch_size must be at least 1");
  if (options.max_waiting < 0) return absl::InvalidArgumentError("max_waiting must be >= 0");
  if (options.max_step_tokens < 1) return absl::InvalidArgumentError("max_step_tokens must be at least 1");
  if (options.block_size < 1 || options.block_size > 1024) {
    return absl::InvalidArgumentError("block_size must be in [1, 1024]");
  }
  if (options.kv_cache_bytes < 0) return absl::InvalidArgumentError("kv_cache_bytes must not be negative");
  const ModelConfig& config = model.config();
  const int64_t bytes_per_block = KvCacheBytesPerToken(config) * options.block_size;
  const int64_t num_blocks =
      options.kv_cache_bytes > 0
          ? options.kv_cache_bytes / bytes_per_block
          : (options.max_batch_size * config.max_position_embeddings + options.block_size - 1) / options.block_size;
  if (num_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("kv_cache_bytes ", options.kv_cache_bytes,
                                                   " does not hold one block of ", bytes_per_block, " bytes"));
  }
  auto impl = std::make_unique<Impl>();
  impl->model = &model;
  impl->options = options;
  ASSIGN_OR_RETURN(impl->cache, model.AllocatePagedCache(num_blocks, options.block_size));
  impl->blocks = std::make_unique<KvBlockManager>(num_blocks, options.block_size, options.prefix_caching);
  impl->scheduler = std::make_unique<Scheduler>(
      SchedulerOptions{options.max_batch_size, options.max_step_tokens}, impl->blocks.get());
  {
    absl::MutexLock lock(&impl->mu);
    impl->stats.kv = impl->blocks->stats();
  }
  impl->thread = std::thread([raw = impl.get()] { raw->Loop(); });
  return std::unique_ptr<Engine>(new Engine(model, std::move(impl)));
}

int64_t Engine::kv_capacity_tokens() const { return impl_->blocks->num_blocks() * impl_->blocks->block_size(); }

absl::StatusOr<std::shared_ptr<RequestStream>> Engine::Submit(EngineRequest request) {
  const ModelConfig& config = model_.config();
  const int64_t context = config.max_position_embeddings;
  const int64_t prompt = static_cast<int64_t>(request.prompt_ids.size());
  if (prompt == 0) return absl::InvalidArgumentError("empty prompt");
  if (request.max_new_tokens < 1) return absl::InvalidArgumentError("max_tokens must be at least 1");
  for (int id : request.prompt_ids) {
    if (id < 0 || id >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token id ", id, " is outside the vocabulary [0, ",
                                                     config.vocab_size, ")"));
    }
  }
  if (prompt + request.max_new_tokens > context) {
    return absl::OutOfRangeError(absl::StrCat(prompt, " prompt tokens + ", request.max_new_tokens,
                                              " new tokens exceed the model's context of ", context));
  }
  if (prompt + request.max_new_tokens > kv_capacity_tokens()) {
    return absl::OutOfRangeError(absl::StrCat(prompt, " prompt tokens + ", request.max_new_tokens,
                                              " new tokens exceed the KV cache of ", kv_capacity_tokens(), " tokens"));
  }
  RETURN_IF_ERROR(request.sampling.Validate());
  if (request.adapter != nullptr &&
      static_cast<int64_t>(request.adapter->updates.size()) != config.num_hidden_layers * kProjectionsPerLayer) {
    return absl::InvalidArgumentError(absl::StrCat("adapter ", request.adapter->key, " was read for another model"));
  }
  auto work = std::make_unique<Impl::Work>();
  work->sampler = Sampler(request.sampling);
  work->sequence.tokens = request.prompt_ids;
  work->sequence.prompt_length = prompt;
  work->sequence.background = request.background;
  if (request.adapter != nullptr) {
    // Never 0, the base model's salt.
    work->sequence.cache_salt = std::hash<std::string>()(request.adapter->key) | 1;
  }
  work->request = std::move(request);
  work->stream = std::make_shared<RequestStream>();
  work->submitted = Clock::now();
  std::shared_ptr<RequestStream> stream = work->stream;
  absl::MutexLock lock(&impl_->mu);
  if (impl_->draining) return absl::UnavailableError("the engine is draining");
  if (!work->request.background &&
      impl_->unfinished - impl_->unfinished_background >= impl_->options.max_waiting + impl_->options.max_batch_size) {
    return absl::ResourceExhaustedError(absl::StrCat("the request queue is full (", impl_->options.max_waiting,
                                                     " waiting); retry later"));
  }
  work->sequence.id = impl_->next_id++;
  ++impl_->unfinished;
  if (work->request.background) ++impl_->unfinished_background;
  impl_->incoming.push_back(std::move(work));
  if (!impl_->stats.busy) impl_->stats.last_progress = absl::Now();
  impl_->stats.busy = true;
  return stream;
}

void Engine::Drain() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->draining = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

EngineStats Engine::stats() const {
  absl::MutexLock lock(&impl_->mu);
  EngineStats stats = impl_->stats;
  stats.waiting += static_cast<int>(impl_->incoming.size());
  stats.busy = stats.busy || !impl_->incoming.empty();
  return stats;
}

}  // namespace promptintern
