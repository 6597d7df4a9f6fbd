#include "core/serve/batch_engine.h"

#include <torch/torch.h>

#include <chrono>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace promptintern {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The longest suffix of `text` that could still grow into a stop string: held back from streaming
// so a client never sees text that the stop string later removes.
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

struct BatchEngine::Impl {
  struct Work {
    EngineRequest request;
    Sampler sampler{SamplingParams{}};
    EngineResult result;
    absl::Status status;
    absl::Notification done;
    Clock::time_point submitted;
    Clock::time_point last_token;
    int64_t position = 0;  // where the next token goes in the cache
    int next_token = 0;    // sampled, not yet fed
    size_t streamed = 0;   // characters of text already streamed
    bool finished = false;
  };

  const DecoderModel* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  EngineOptions options;
  KvCache cache;
  mutable absl::Mutex mu;
  std::deque<Work*> waiting ABSL_GUARDED_BY(mu);
  bool draining ABSL_GUARDED_BY(mu) = false;
  std::vector<Work*> active;  // engine thread only; active[i] owns cache slot i
  std::atomic<int> running{0};
  std::function<void(int)> step_observer;
  std::thread thread;

  KvCache SlotView(int64_t first, int64_t count) {
    KvCache view;
    view.capacity = cache.capacity;
    for (size_t layer = 0; layer < cache.keys.size(); ++layer) {
      view.keys.push_back(cache.keys[layer].narrow(0, first, count));
      view.values.push_back(cache.values[layer].narrow(0, first, count));
    }
    return view;
  }

  void MoveSlot(int64_t from, int64_t to) {
    for (size_t layer = 0; layer < cache.keys.size(); ++layer) {
      cache.keys[layer][to].copy_(cache.keys[layer][from]);
      cache.values[layer][to].copy_(cache.values[layer][from]);
    }
  }

  // Takes token `token` for `work`: records it, streams text, decides whether the request ends.
  absl::Status Accept(Work& work, int token) {
    const auto now = Clock::now();
    EngineResult& result = work.result;
    if (result.token_ids.empty()) {
      result.first_token_seconds = SecondsBetween(work.submitted, now);
    } else {
      result.inter_token_seconds.push_back(SecondsBetween(work.last_token, now));
    }
    work.last_token = now;
    if (model->config().is_eos(token)) {
      work.finished = true;
      result.finish_reason = FinishReason::kEos;
      return absl::OkStatus();
    }
    result.token_ids.push_back(token);
    work.next_token = token;
    ASSIGN_OR_RETURN(std::string text, tokenizer->Decode(result.token_ids, SpecialTokens::kSkip));
    if (CutAtStopString(work.request.stop_strings, &text)) {
      work.finished = true;
      result.finish_reason = FinishReason::kStop;
    } else if (static_cast<int>(result.token_ids.size()) >= work.request.max_new_tokens) {
      work.finished = true;
      result.finish_reason = FinishReason::kLength;
    }
    const size_t hold = work.finished ? 0 : PendingStopPrefix(work.request.stop_strings, text);
    // SentencePiece may revise the last characters (an incomplete UTF-8 sequence); stream only
    // while the text extends what was already sent.
    if (work.request.on_text && text.size() > work.streamed + hold &&
        text.compare(0, work.streamed, result.text, 0, work.streamed) == 0) {
      work.request.on_text(text.substr(work.streamed, text.size() - hold - work.streamed));
      work.streamed = text.size() - hold;
    }
    result.text = std::move(text);
    return absl::OkStatus();
  }

  absl::Status Admit(Work& work, int64_t slot) {
    const auto start = Clock::now();
    work.result.queue_seconds = SecondsBetween(work.submitted, start);
    work.sampler = Sampler(work.request.sampling);
    const int64_t length = static_cast<int64_t>(work.request.prompt_ids.size());
    KvCache view = SlotView(slot, 1);
    ASSIGN_OR_RETURN(const at::Tensor tokens, CallTorch("prefill input", [&] {
                       return at::tensor(std::vector<int64_t>(work.request.prompt_ids.begin(),
                                                              work.request.prompt_ids.end()),
                                         at::kLong)
                           .view({1, length});
                     }));
    ASSIGN_OR_RETURN(const at::Tensor hidden, model->Forward(tokens, {0}, &view));
    ASSIGN_OR_RETURN(const at::Tensor logits, model->Logits(hidden.narrow(1, length - 1, 1)));
    work.position = length;
    work.result.prefill_seconds = SecondsBetween(start, Clock::now());
    const at::Tensor row = logits.reshape({-1}).contiguous();
    return Accept(work, work.sampler.Sample(row.data_ptr<float>(), static_cast<int>(row.numel())));
  }

  absl::Status DecodeStep() {
    const int64_t batch = static_cast<int64_t>(active.size());
    std::vector<int64_t> tokens(batch);
    std::vector<int64_t> positions(batch);
    for (int64_t i = 0; i < batch; ++i) {
      tokens[i] = active[i]->next_token;
      positions[i] = active[i]->position;
    }
    KvCache view = SlotView(0, batch);
    ASSIGN_OR_RETURN(const at::Tensor input, CallTorch("decode input", [&] {
                       return at::tensor(tokens, at::kLong).view({batch, 1});
                     }));
    ASSIGN_OR_RETURN(const at::Tensor hidden, model->Forward(input, positions, &view));
    ASSIGN_OR_RETURN(at::Tensor logits, model->Logits(hidden));
    logits = logits.reshape({batch, -1}).contiguous();
    const int vocab = static_cast<int>(logits.size(1));
    const float* data = logits.data_ptr<float>();
    for (int64_t i = 0; i < batch; ++i) {
      Work& work = *active[i];
      ++work.position;
      RETURN_IF_ERROR(Accept(work, work.sampler.Sample(data + i * vocab, vocab)));
    }
    if (step_observer) step_observer(static_cast<int>(batch));
    return absl::OkStatus();
  }

  void Complete(Work& work, absl::Status status) {
    work.status = std::move(status);
    work.result.total_seconds = SecondsBetween(work.submitted, Clock::now());
    work.done.Notify();
  }

  // Finishes requests that ended, ran out of time or were abandoned, keeping slots compact.
  void Retire() {
    for (int64_t i = static_cast<int64_t>(active.size()) - 1; i >= 0; --i) {
      Work& work = *active[i];
      absl::Status status;
      if (!work.finished) {
        if (work.request.cancelled && work.request.cancelled()) {
          status = absl::CancelledError("the client cancelled the request");
        } else if (absl::Now() > work.request.deadline) {
          status = absl::DeadlineExceededError("the request's deadline passed during generation");
        } else if (work.position >= cache.capacity) {
          work.result.finish_reason = FinishReason::kLength;
        } else {
          continue;
        }
      }
      const int64_t last = static_cast<int64_t>(active.size()) - 1;
      if (i != last) {
        MoveSlot(last, i);
        active[i] = active[last];
      }
      active.pop_back();
      Complete(work, std::move(status));
    }
    running = static_cast<int>(active.size());
  }

  void Loop() {
    c10::InferenceMode inference_mode;
    while (true) {
      std::vector<Work*> admitted;
      {
        absl::MutexLock lock(&mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return !waiting.empty() || !active.empty() || draining;
        };
        mu.Await(absl::Condition(&ready));
        if (draining && waiting.empty() && active.empty()) return;
        while (!waiting.empty() && static_cast<int>(active.size() + admitted.size()) < options.max_batch_size) {
          admitted.push_back(waiting.front());
          waiting.pop_front();
        }
      }
      for (Work* work : admitted) {
        if (work->request.cancelled && work->request.cancelled()) {
          Complete(*work, absl::CancelledError("the client cancelled the request"));
          continue;
        }
        if (absl::Now() > work->request.deadline) {
          Complete(*work, absl::DeadlineExceededError("the request's deadline passed while it was queued"));
          continue;
        }
        const int64_t slot = static_cast<int64_t>(active.size());
        active.push_back(work);
        if (absl::Status status = Admit(*work, slot); !status.ok()) {
          active.pop_back();
          Complete(*work, status);
        }
      }
      Retire();
      if (active.empty()) continue;
      if (absl::Status status = DecodeStep(); !status.ok()) {
        // A failed step fails every request in it; the engine itself goes on.
        for (Work* work : active) Complete(*work, status);
        active.clear();
        running = 0;
        continue;
      }
      Retire();
    }
  }
};

BatchEngine::BatchEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BatchEngine::~BatchEngine() { Drain(); }

absl::StatusOr<std::unique_ptr<BatchEngine>> BatchEngine::Start(const DecoderModel& model, const Tokenizer& tokenizer,
                                                                const EngineOptions& options) {
  if (options.max_batch_size < 1) return absl::InvalidArgumentError("max_batch_size must be at least 1");
  if (options.max_waiting < 0) return absl::InvalidArgumentError("max_waiting must be >= 0");
  auto impl = std::make_unique<Impl>();
  impl->model = &model;
  impl->tokenizer = &tokenizer;
  impl->options = options;
  ASSIGN_OR_RETURN(impl->cache, model.AllocateCache(options.max_batch_size, model.config().max_position_embeddings));
  impl->thread = std::thread([raw = impl.get()] { raw->Loop(); });
  return std::unique_ptr<BatchEngine>(new BatchEngine(std::move(impl)));
}

absl::StatusOr<EngineResult> BatchEngine::Generate(EngineRequest request) {
  const int64_t context = impl_->model->config().max_position_embeddings;
  if (request.prompt_ids.empty()) return absl::InvalidArgumentError("empty prompt");
  if (request.max_new_tokens < 1) return absl::InvalidArgumentError("max_tokens must be at least 1");
  if (static_cast<int64_t>(request.prompt_ids.size()) + request.max_new_tokens > context) {
    return absl::OutOfRangeError(absl::StrCat(request.prompt_ids.size(), " prompt tokens + ", request.max_new_tokens,
                                              " new tokens exceed the model's context of ", context));
  }
  RETURN_IF_ERROR(request.sampling.Validate());
  Impl::Work work;
  work.request = std::move(request);
  work.submitted = Clock::now();
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->draining) return absl::UnavailableError("the engine is draining");
    if (static_cast<int>(impl_->waiting.size()) >= impl_->options.max_waiting) {
      return absl::ResourceExhaustedError(absl::StrCat("the request queue is full (", impl_->options.max_waiting,
                                                       " waiting); retry later"));
    }
    impl_->waiting.push_back(&work);
  }
  work.done.WaitForNotification();
  if (!work.status.ok()) return work.status;
  return std::move(work.result);
}

void BatchEngine::Drain() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->draining = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

EngineStats BatchEngine::stats() const {
  absl::MutexLock lock(&impl_->mu);
  return {impl_->running.load(), static_cast<int>(impl_->waiting.size())};
}

void BatchEngine::set_step_observer(std::function<void(int)> observer) { impl_->step_observer = std::move(observer); }

}  // namespace promptintern
